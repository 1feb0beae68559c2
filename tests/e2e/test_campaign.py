"""A whole digits campaign over HTTP against a real server process, with a kill -9 in the middle.

Three annotators poll concurrently until the server stops the campaign. Checked: no item
leased to two annotators at once, no item labeled twice, the budget respected, a learning
curve, eval accuracy at the end, and every acknowledged label surviving SIGKILL + restart.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

BUDGET = 300
THINK_SECONDS = 0.1  # per item: a very fast human (the loop retrains every 20 labels)


def create_digits_campaign(client: Client) -> tuple[int, dict[str, str]]:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    evals, pool = order[:400], order[400:]
    pid = client.create_project(
        name="digits-e2e", labels=[str(d) for d in range(10)], model={"name": "logistic_regression"},
        strategy={"name": "margin"}, batch_size=10, retrain_every=20, budget=BUDGET,
        target={"metric": "accuracy", "value": 0.94}, lease_seconds=600, seed=0, dedup="off",
    )["id"]
    client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist(), "label": str(y[i])} for i in evals], "eval")
    client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist()} for i in pool], "pool")
    return pid, {f"x{i}": str(y[i]) for i in pool}


def test_digits_campaign_survives_kill9_and_reaches_its_goal(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        started = time.monotonic()
        with Client(server.url) as client:
            pid, gold = create_digits_campaign(client)
            client.wait_until_ready(pid)  # the first batch comes from the cold-start rule
        ledger = Ledger()
        # Phase 1: label about a third of the budget, then SIGKILL the server mid-traffic.
        phase1 = threading.Thread(target=run_annotators, args=(server.url, pid, gold, ledger),
                                  kwargs={"think_seconds": THINK_SECONDS, "stop_at": 100})
        phase1.start()
        while len(ledger.acknowledged) < 100 and phase1.is_alive():
            time.sleep(0.01)
        server.kill9()
        phase1.join(60)
        before_crash = dict(ledger.acknowledged)

        server.start()
        with Client(server.url) as client:
            stored = {row["item_id"]: row["label"] for row in client.export(pid)}
            assert before_crash.items() <= stored.items(), "an acknowledged label was lost"

            # Phase 2: the same campaign goes on until the server stops it.
            run_annotators(server.url, pid, gold, ledger, think_seconds=THINK_SECONDS)
            status = client.wait_until_settled(pid)
            elapsed = time.monotonic() - started
            rows = client.export(pid)
            curve = client.metrics(pid)

        assert ledger.done_reason in ("target_reached", "budget_exhausted")
        assert status["stop_reason"] == ledger.done_reason
        assert status["labeled"] <= BUDGET and len(rows) == status["labeled"]
        assert len({row["item_id"] for row in rows}) == len(rows), "an item was labeled twice"
        assert ledger.duplicates == 0 and ledger.rejected == 0
        assert ledger.overlapping_holds() == []
        assert all(row["label"] == gold[row["item_id"]] for row in rows)
        assert len(curve) >= 3 and [p["labels"] for p in curve] == sorted(p["labels"] for p in curve)
        # The model learned (random labels alone reach ~0.93 at 300). How much the loop saves over
        # random is measured in tests/simulate, where rounds cannot lag behind 30 labels/s of
        # annotators on a loaded 2-core machine as they can here.
        assert curve[-1]["accuracy"] >= 0.90
        print(f"\ndigits e2e: {status['stop_reason']} at {status['labeled']} labels, "
              f"accuracy {curve[-1]['accuracy']:.3f}, {elapsed:.1f}s including one kill -9 and restart")

        # Phase 3: kill -9 once more at rest; everything comes back the same.
        server.kill9()
        server.start()
        with Client(server.url) as client:
            again = client.project(pid)
            for key in ("state", "stop_reason", "labeled", "unlabeled", "model_version", "metrics"):
                assert again[key] == status[key], key
            assert client.export(pid) == rows
    finally:
        server.stop()
