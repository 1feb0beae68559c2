"""Helpers shared by the API and end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient


def project_body(**overrides: Any) -> dict[str, Any]:
    """A valid digits project body with the given fields changed."""
    body: dict[str, Any] = {
        "name": "digits", "labels": [str(d) for d in range(10)], "batch_size": 10,
        "retrain_every": 20, "budget": 100, "seed": 0,
    }
    body.update(overrides)
    return body


def items_body(X: np.ndarray, ids: range | list[int], y: np.ndarray | None = None, split: str = "pool") -> dict[str, Any]:
    items = []
    for i in ids:
        item: dict[str, Any] = {"id": f"d{i}", "features": X[i].tolist()}
        if y is not None:
            item["label"] = str(y[i])
        items.append(item)
    return {"split": split, "items": items}


def make_campaign(client: TestClient, digits: tuple[np.ndarray, np.ndarray], *, pool: int = 300,
                  evals: int = 100, **overrides: Any) -> int:
    """Create a digits project over HTTP with ``pool`` pool items and ``evals`` eval items."""
    X, y = digits
    r = client.post("/projects", json=project_body(**overrides))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post(f"/projects/{pid}/items", json=items_body(X, range(pool)))
    assert r.status_code == 200, r.text
    if evals:
        r = client.post(f"/projects/{pid}/items", json=items_body(X, range(pool, pool + evals), y, "eval"))
        assert r.status_code == 200, r.text
    return pid


class ServerProcess:
    """``alloop serve`` in a subprocess on a free loopback port; stopped by its own pid."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health in {timeout}s")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hooks, no flush."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
