"""`alloop serve --ray`: a served campaign whose rounds score on the cluster, and an address that does
not answer stopping the start with a clear message (issue 16)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import RAY_LOOPBACK as LOOPBACK

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, says", [
    (None, "the Ray head does not answer"),
    ("no-port-here", "give 'auto' or the head's HOST:PORT"),
])
def test_an_address_that_does_not_answer_stops_the_start(tmp_path: Path, address, says):
    address = address or f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "alloop", "serve", "--port", str(_closed_port()), "--data-dir", str(tmp_path / "d"),
         "--ray", address], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert says in done.stderr and address in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout
    assert time.monotonic() - started < 60  # fails fast: no retry loop behind it


def test_a_served_campaign_scores_its_pool_on_the_cluster(ray_cluster, tmp_path: Path, digits):
    X, y = digits
    server = ServerProcess(tmp_path / "data", env={**LOOPBACK, "ALLOOP_RAY_ADDRESS": ray_cluster,
                                                   "ALLOOP_SCORE_CHUNK_ROWS": "100"}).start()
    try:
        with Client(server.url) as client:
            pid = client.create_project(name="digits", labels=[str(d) for d in range(10)], batch_size=10,
                                        retrain_every=20, dedup="off")["id"]
            client.add_items(pid, [{"id": i, "features": X[i].tolist()} for i in range(600)])
            client.add_items(pid, [{"id": i, "features": X[i].tolist(), "label": str(y[i])}
                                   for i in range(600, 800)], split="eval")
            for _ in range(4):
                batch = client.next(pid, "ann", 10)
                client.label(pid, [{"item_id": it["id"], "label": str(y[int(it["id"])])} for it in batch["items"]])
            status = client._wait(pid, lambda s: (s.get("model_version") or 0) >= 1, 180.0, 0.2, "trained no model")
            batch = client.next(pid, "ann", 10)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "unavailable, scoring here" not in log, log[-2000:]  # the worker reached the cluster
    assert status["model_version"] >= 1 and batch["items"]
    assert all(item["strategy"] == "margin" for item in batch["items"])
