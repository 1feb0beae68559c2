"""A small Python client for scripts and custom labeling tools, on httpx.

Retries are safe: a re-poll of ``/next`` returns the items the annotator already holds,
and a resubmitted label is counted once (``duplicates``).

Example::

    from server.client import Client

    with Client("http://127.0.0.1:8000") as alloop:
        batch = alloop.next(project_id=1, annotator="me", n=10)
        alloop.label(1, [{"item_id": it["id"], "label": "cat", "annotator": "me"} for it in batch["items"]])
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

__all__ = ["Client", "AlloopHTTPError"]


class AlloopHTTPError(RuntimeError):
    """The server answered 4xx/5xx; ``status`` and ``detail`` say why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Client:
    """Talks to one alloop server; ``retries`` covers dropped connections and 5xx answers."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.2) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers)
        self.retries = retries
        self.backoff = backoff

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying transport errors and 5xx with exponential backoff; raise on 4xx."""
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            else:
                if response.status_code < 500 or attempt == self.retries:
                    break
            time.sleep(self.backoff * 2**attempt)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AlloopHTTPError(response.status_code, str(detail))
        return response

    def create_project(self, **config: Any) -> dict[str, Any]:
        """POST /projects with the given configuration."""
        return self.request("POST", "/projects", json=config).json()

    def project(self, project_id: int) -> dict[str, Any]:
        """GET /projects/{id}: state, counts, newest metrics."""
        return self.request("GET", f"/projects/{project_id}").json()

    def add_items(self, project_id: int, items: list[dict[str, Any]], split: str = "pool") -> dict[str, int]:
        """POST /projects/{id}/items; ids already present are skipped, so a retry is harmless."""
        return self.request("POST", f"/projects/{project_id}/items", json={"split": split, "items": items}).json()

    def upload(self, project_id: int, path: str, split: str = "pool") -> dict[str, int]:
        """Import a .csv, .jsonl or .json file."""
        with open(path, "rb") as handle:
            files = {"file": (path.rsplit("/", 1)[-1], handle)}
            return self.request("POST", f"/projects/{project_id}/items", files=files, data={"split": split}).json()

    def next(self, project_id: int, annotator: str, n: int | None = None) -> dict[str, Any]:
        """POST /projects/{id}/next."""
        body: dict[str, Any] = {"annotator": annotator}
        if n is not None:
            body["n"] = n
        return self.request("POST", f"/projects/{project_id}/next", json=body).json()

    def label(self, project_id: int, labels: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /projects/{id}/labels."""
        return self.request("POST", f"/projects/{project_id}/labels", json={"labels": labels}).json()

    def metrics(self, project_id: int) -> list[dict[str, Any]]:
        """The learning curve."""
        return self.request("GET", f"/projects/{project_id}/metrics").json()["curve"]

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every label with its provenance."""
        text = self.request("GET", f"/projects/{project_id}/export", params={"format": "jsonl"}).text
        return [json.loads(line) for line in text.splitlines()]

    def wait_until_settled(self, project_id: int, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the campaign is done and its final model covers every label."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.project(project_id)
            curve = self.metrics(project_id)
            if status["state"] == "done" and curve and curve[-1]["labels"] == status["labeled"]:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"project {project_id} did not settle in {timeout}s: {status['state']}")
            time.sleep(0.2)
