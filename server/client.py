"""A small Python client for scripts and custom labeling tools, on httpx.

Retries are safe: a re-poll of ``/next`` returns the items the annotator already holds,
and a resubmitted label is counted once (``duplicates``).

Example::

    from alloop.client import Client

    with Client("http://127.0.0.1:8000") as alloop:
        batch = alloop.next(project_id=1, annotator="me", n=10)
        alloop.label(1, [{"item_id": it["id"], "label": "cat", "annotator": "me"} for it in batch["items"]])

A labeling script, start to finish::

    with Client("http://127.0.0.1:8000", token=TOKEN) as alloop:
        pid = alloop.create_project(name="sms", labels=["ham", "spam"], input="text", budget=200)["id"]
        alloop.import_files(pid, ["pool.jsonl"])
        while not (batch := alloop.poll_next(pid, "me", timeout=60))["done"]:
            alloop.submit_labels(pid, [{"item_id": it["id"], "label": ask(it), "annotator": "me"}
                                       for it in batch["items"]])
        for status in alloop.watch(pid):
            print(status["labeled"], status["model_version"], status["state"])
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

__all__ = ["Client", "AlloopHTTPError", "raise_for_status"]


class AlloopHTTPError(RuntimeError):
    """The server answered 4xx/5xx; ``status`` and ``detail`` say why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`AlloopHTTPError` with the server's ``detail`` for a 4xx/5xx answer (read in full)."""
    if response.status_code >= 400:
        response.read()
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise AlloopHTTPError(response.status_code, str(detail))


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
        raise_for_status(response)
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

    def next(self, project_id: int, annotator: str, n: int | None = None, *, wait: float | None = None) -> dict[str, Any]:
        """POST /projects/{id}/next; ``wait``: seconds the server may hold the call for a fresh ranking
        (None: the server's default, 0: answer at once)."""
        body: dict[str, Any] = {"annotator": annotator}
        if n is not None:
            body["n"] = n
        if wait is not None:
            body["wait"] = wait
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

    def wait_until_ready(self, project_id: int, timeout: float = 120.0) -> dict[str, Any]:
        """Poll until the campaign has a ranking to serve (cold start or a model), or is done:
        a text pool is embedded, and the first items are chosen.

        ``/next`` waits for that by itself (up to its ``wait``); with ``max_stale_labels: null`` it
        serves the pool in a seeded random order before it instead.
        """
        return self._wait(project_id, lambda status: status["ranking"] is not None or status["state"] == "done",
                          timeout, 0.1, "has no ranking")

    def wait_until_settled(self, project_id: int, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the campaign is done and its final model covers every label (``settled``)."""
        return self._wait(project_id, lambda status: status["settled"], timeout, 0.2, "did not settle")

    def _wait(self, project_id: int, done: Callable[[dict[str, Any]], bool], timeout: float, interval: float,
              failure: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.project(project_id)
            if done(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"project {project_id} {failure} after {timeout}s: {status['state']}")
            time.sleep(interval)

    def import_files(self, project_id: int, paths: Iterable[str], split: str = "pool") -> dict[str, int]:
        """Import several .csv / .jsonl / .json files; ids already present are skipped, so a rerun is harmless."""
        total = {"added": 0, "skipped": 0}
        for path in paths:
            answer = self.upload(project_id, str(path), split)
            total = {key: total[key] + answer[key] for key in total}
        return total

    def submit_labels(self, project_id: int, labels: list[dict[str, Any]], *,
                      submission_id: str | None = None) -> dict[str, Any]:
        """POST /labels with an ``Idempotency-Key``: every retry of this call sends the same key, so a
        submission whose answer was lost is replayed, never counted twice (``"replayed": true``)."""
        key = submission_id or uuid.uuid4().hex
        return self.request("POST", f"/projects/{project_id}/labels", json={"labels": labels},
                            headers={"Idempotency-Key": key}).json()

    def poll_next(self, project_id: int, annotator: str, n: int | None = None, *, interval: float = 1.0,
                  timeout: float | None = None) -> dict[str, Any]:
        """Like :meth:`next`, but keep asking until items come or the campaign is done: while the pool
        is still embedding, the first ranking or a fresh one is being computed (the server holds each
        call up to its ``wait``), or others hold every free item. Between calls it sleeps the
        server's ``retry_after`` (at most ``interval`` seconds). ``TimeoutError`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = self.next(project_id, annotator, n)
            if batch["items"] or batch["done"]:
                return batch
            pause = min(interval, batch.get("retry_after") or interval)
            if deadline is not None and time.monotonic() + pause > deadline:
                raise TimeoutError(f"no item free in project {project_id} within {timeout}s "
                                   f"(waiting for: {batch.get('reason')})")
            time.sleep(pause)

    def labeling_info(self, project_id: int) -> dict[str, Any]:
        """A project's name, labels, input kind and state (an annotator token may read it)."""
        return self.request("GET", f"/projects/{project_id}/labeling").json()

    def watch(self, project_id: int, *, interval: float = 2.0,
              timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield the project's status whenever labels, model version, state or activity change; ends
        once the campaign is done and its final model covers every label."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple[Any, ...] | None = None
        while True:
            status = self.project(project_id)
            seen = (status["labeled"], status["model_version"], status["state"], status.get("activity"))
            if seen != last:
                last = seen
                yield status
            if status["settled"]:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"project {project_id} still {status['state']} after {timeout}s")
            time.sleep(interval)
