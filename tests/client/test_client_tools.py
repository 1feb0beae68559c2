"""The Python client against a real server: files, polling, idempotent label retries, watching."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from alloop.client import AlloopHTTPError, Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

LABELS = ["x", "y", "z"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("client") / "data").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url, backoff=0.01) as c:
        yield c


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=90, centers=3, n_features=3, random_state=2)
    return X, y


def new_project(client: Client, **overrides: object) -> int:
    body = {"name": "c", "labels": LABELS, "batch_size": 5, "retrain_every": 5, "budget": 15, "stabilize": None,
            "dedup": "off"}
    return client.create_project(**{**body, **overrides})["id"]


def test_import_files_of_every_format_and_a_rerun_skips(client: Client, data, tmp_path: Path) -> None:
    X, y = data
    pid = new_project(client)
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"a{i}", "features": X[i].tolist()}) + "\n" for i in range(30)))
    csv = tmp_path / "pool.csv"
    csv.write_text("id,f0,f1,f2\n" + "".join(f"b{i},{X[i][0]},{X[i][1]},{X[i][2]}\n" for i in range(30, 60)))
    evals = tmp_path / "eval.json"
    evals.write_text(json.dumps({"items": [{"id": f"e{i}", "features": X[i].tolist(), "label": LABELS[y[i]]}
                                           for i in range(60, 90)]}))
    assert client.import_files(pid, [jsonl, csv]) == {"added": 60, "skipped": 0}
    assert client.import_files(pid, [evals], split="eval") == {"added": 30, "skipped": 0}
    assert client.import_files(pid, [jsonl]) == {"added": 0, "skipped": 30}
    status = client.project(pid)
    assert (status["pool_size"], status["eval_size"]) == (60, 30)


def test_poll_next_waits_for_items_and_times_out(client: Client, data) -> None:
    X, _ = data
    pid = new_project(client)
    with pytest.raises(TimeoutError):
        client.poll_next(pid, "a", interval=0.05, timeout=0.3)
    later = threading.Timer(0.3, client.add_items, args=(pid, [{"id": i, "features": X[i].tolist()} for i in range(20)]))
    later.start()
    batch = client.poll_next(pid, "a", n=3, interval=0.05, timeout=20)
    later.join()
    assert len(batch["items"]) == 3 and not batch["done"]


class LoseFirstAnswer(httpx.BaseTransport):
    """Forwards every request to the server, but drops the answer of the first /labels call."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.dropped = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/labels") and not self.dropped:
            response.read()
            self.dropped += 1
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_retried_submission_after_a_lost_answer_counts_once(client: Client, server: ServerProcess, data) -> None:
    X, _ = data
    pid = new_project(client)
    client.add_items(pid, [{"id": i, "features": X[i].tolist()} for i in range(20)])
    items = client.poll_next(pid, "a", n=2, timeout=20)["items"]
    labels = [{"item_id": it["id"], "label": "x", "annotator": "a"} for it in items]
    flaky = LoseFirstAnswer()
    client.http.close()
    client.http = httpx.Client(base_url=server.url, transport=flaky)
    answer = client.submit_labels(pid, labels)
    assert flaky.dropped == 1
    assert answer["replayed"] is True and answer["accepted"] == 2
    assert client.project(pid)["labeled"] == 2
    assert client.submit_labels(pid, labels)["duplicates"] == 2
    client.submit_labels(pid, [{**labels[0], "label": "y"}], submission_id="k1")
    with pytest.raises(AlloopHTTPError) as err:
        client.submit_labels(pid, [{**labels[0], "label": "z"}], submission_id="k1")
    assert err.value.status == 422 and "already used" in err.value.detail


def test_watch_follows_a_campaign_to_its_end(client: Client, data) -> None:
    X, y = data
    pid = new_project(client, budget=10)
    client.add_items(pid, [{"id": i, "features": X[i].tolist()} for i in range(60)])
    client.add_items(pid, [{"id": i, "features": X[i].tolist(), "label": LABELS[y[i]]} for i in range(60, 90)], "eval")
    assert client.labeling_info(pid)["labels"] == LABELS

    def annotate() -> None:
        while not (batch := client.poll_next(pid, "w", timeout=30))["done"]:
            client.submit_labels(pid, [{"item_id": it["id"], "label": LABELS[y[int(it["id"])]], "annotator": "w"}
                                       for it in batch["items"]])
            time.sleep(0.05)

    worker = threading.Thread(target=annotate)
    worker.start()
    seen = list(client.watch(pid, interval=0.05, timeout=60))
    worker.join(30)
    assert seen[-1]["state"] == "done" and seen[-1]["stop_reason"] == "budget_exhausted"
    final = client.metrics(pid)[-1]
    assert seen[-1]["labeled"] == final["labels"] == 10
    assert seen[-1]["model_version"] == final["model_version"]
    labeled = [s["labeled"] for s in seen]
    assert labeled == sorted(labeled) and len(seen) >= 2
