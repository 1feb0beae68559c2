"""A whole digits campaign over HTTP against a real server process, with a kill -9 in the middle.

Three annotators poll concurrently until the server stops the campaign. Checked: no item
leased to two annotators at once, no item labeled twice, the budget respected, a learning
curve, eval accuracy at the end, and every acknowledged label surviving SIGKILL + restart.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import numpy as np
import pytest
from helpers import ServerProcess
from sklearn.datasets import load_digits

pytestmark = pytest.mark.slow

BUDGET = 300
THINK_SECONDS = 0.03  # per item


@dataclass
class Ledger:
    """What the annotators saw: lease intervals per item, acknowledged labels, duplicates."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    holds: dict[str, list[tuple[str, float, float]]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    rejected: int = 0
    done_reason: str | None = None


def annotate(url: str, pid: int, name: str, gold: dict[str, str], ledger: Ledger, stop_at: int | None) -> None:
    """Poll, label with the gold label, repeat; stop when done, at ``stop_at`` labels, or when the server dies."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        while True:
            try:
                answer = http.post(f"/projects/{pid}/next", json={"annotator": name, "n": 10}).json()
                if answer["done"]:
                    ledger.done_reason = answer["reason"]
                    return
                if not answer["items"]:
                    time.sleep(0.05)
                    continue
                leased_at = time.monotonic()
                time.sleep(THINK_SECONDS * len(answer["items"]))  # a (very fast) human at work
                labels = [{"item_id": it["id"], "label": gold[it["id"]], "annotator": name} for it in answer["items"]]
                result = http.post(f"/projects/{pid}/labels", json={"labels": labels}).json()
            except httpx.TransportError:
                return  # the server was killed under us
            with ledger.lock:
                for it in answer["items"]:
                    ledger.holds[it["id"]].append((name, leased_at, time.monotonic()))
                ledger.duplicates += result["duplicates"]
                ledger.rejected += len(result["rejected"])
                if result["accepted"] == len(labels):
                    ledger.acknowledged.update({lab["item_id"]: lab["label"] for lab in labels})
                if stop_at is not None and len(ledger.acknowledged) >= stop_at:
                    return


def run_annotators(url: str, pid: int, gold: dict[str, str], ledger: Ledger, stop_at: int | None = None) -> None:
    threads = [
        threading.Thread(target=annotate, args=(url, pid, f"annotator-{k}", gold, ledger, stop_at)) for k in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)


def create_digits_campaign(url: str) -> tuple[int, dict[str, str]]:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    evals, pool = order[:400], order[400:]
    with httpx.Client(base_url=url, timeout=60.0) as http:
        pid = http.post("/projects", json={
            "name": "digits-e2e", "labels": [str(d) for d in range(10)],
            "model": {"name": "logistic_regression"}, "strategy": {"name": "margin"},
            "batch_size": 10, "retrain_every": 20, "budget": BUDGET,
            "target": {"metric": "accuracy", "value": 0.94}, "lease_seconds": 600, "seed": 0,
        }).json()["id"]
        for split, rows in (("eval", evals), ("pool", pool)):
            items = [{"id": f"x{i}", "features": X[i].tolist(), **({"label": str(y[i])} if split == "eval" else {})}
                     for i in rows]
            assert http.post(f"/projects/{pid}/items", json={"split": split, "items": items}).status_code == 200
    return pid, {f"x{i}": str(y[i]) for i in pool}


def settled(url: str, pid: int, timeout: float = 120.0) -> dict:
    """The project's status once the final model covers every label."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/projects/{pid}", timeout=30).json()
        curve = httpx.get(f"{url}/projects/{pid}/metrics", timeout=30).json()["curve"]
        if status["state"] == "done" and curve and curve[-1]["labels"] == status["labeled"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"campaign did not settle: {status}")


def export(url: str, pid: int) -> list[dict]:
    import json

    return [json.loads(line) for line in httpx.get(f"{url}/projects/{pid}/export", timeout=30).text.splitlines()]


def test_digits_campaign_survives_kill9_and_reaches_its_goal(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        started = time.monotonic()
        pid, gold = create_digits_campaign(server.url)
        ledger = Ledger()
        # Phase 1: label about a third of the budget, then SIGKILL the server mid-traffic.
        watcher = threading.Thread(target=run_annotators, args=(server.url, pid, gold, ledger, 100))
        watcher.start()
        while len(ledger.acknowledged) < 100 and watcher.is_alive():
            time.sleep(0.01)
        server.kill9()
        watcher.join(60)
        before_crash = dict(ledger.acknowledged)

        server.start()
        stored = {row["item_id"]: row["label"] for row in export(server.url, pid)}
        assert before_crash.items() <= stored.items(), "an acknowledged label was lost"

        # Phase 2: the same campaign goes on until the server stops it.
        run_annotators(server.url, pid, gold, ledger)
        status = settled(server.url, pid)
        elapsed = time.monotonic() - started
        rows = export(server.url, pid)
        curve = httpx.get(f"{server.url}/projects/{pid}/metrics", timeout=30).json()["curve"]

        assert ledger.done_reason in ("target_reached", "budget_exhausted")
        assert status["stop_reason"] == ledger.done_reason
        assert status["labeled"] <= BUDGET and len(rows) == status["labeled"]
        assert len({row["item_id"] for row in rows}) == len(rows), "an item was labeled twice"
        assert ledger.duplicates == 0 and ledger.rejected == 0
        for item, holds in ledger.holds.items():  # at most one annotator holds an item at any moment
            holds.sort(key=lambda h: h[1])
            for (a, _, end), (b, start, _) in zip(holds, holds[1:]):
                assert a == b or start >= end, f"{item} held by {a} and {b} at once"
        assert all(row["label"] == gold[row["item_id"]] for row in rows)
        assert len(curve) >= 5 and [p["labels"] for p in curve] == sorted(p["labels"] for p in curve)
        assert curve[-1]["accuracy"] >= 0.93
        print(f"\ndigits e2e: {status['stop_reason']} at {status['labeled']} labels, "
              f"accuracy {curve[-1]['accuracy']:.3f}, {elapsed:.1f}s including one kill -9 and restart")

        # Phase 3: kill -9 once more at rest; everything comes back the same.
        server.kill9()
        server.start()
        again = httpx.get(f"{server.url}/projects/{pid}", timeout=30).json()
        for key in ("state", "stop_reason", "labeled", "unlabeled", "model_version", "metrics"):
            assert again[key] == status[key], key
        assert export(server.url, pid) == rows
    finally:
        server.stop()
