"""The loop controller, driven synchronously: cold start, retrain cadence, stop rules, failures."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import store_campaign

from alloop import campaign
from alloop.loop import Controller
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import import_items
from alloop.store.labels import submit_labels
from alloop.store.projects import get_project
from alloop.store.rounds import curve
from alloop.store.serving import claim_next


@pytest.fixture
def loop(store, settings):
    return Controller(store, settings)


def label_next(store, pid, digits, n):
    """Lease n items and label them with the truth; returns the leased batch."""
    _, y = digits
    claim = claim_next(store, pid, "a", n, time.time())
    labels = [LabelIn(item_id=item["id"], label=str(y[int(item["id"])]), annotator="a") for item in claim["items"]]
    if labels:
        submit_labels(store, pid, labels, time.time())
    return claim


def test_cold_start_ranks_diverse_items_before_any_model(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits)
    assert loop.run_pending() == 1
    claim = claim_next(store, pid, "a", 10, time.time())
    assert len(claim["items"]) == 10
    assert all(item["model_version"] is None and item["score"] is None for item in claim["items"])
    _, y = digits
    assert len({y[int(item["id"])] for item in claim["items"]}) >= 5  # k-means++ spreads over classes


def test_random_cold_start_serves_the_pool_in_seeded_order(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits, cold_start="random")
    loop.run_pending()
    with store.read() as conn:
        strategy = conn.execute("SELECT strategy FROM rankings WHERE project_id = ?", (pid,)).fetchone()[0]
    assert strategy == "cold_start:random"


def test_retrains_every_n_labels_and_tags_the_ranking(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits)
    loop.run_pending()
    label_next(store, pid, digits, 10)
    assert loop.run_pending() == 0  # 10 < retrain_every
    label_next(store, pid, digits, 10)
    assert loop.run_pending() == 1
    claim = label_next(store, pid, digits, 10)
    assert {item["model_version"] for item in claim["items"]} == {1}
    scores = [item["score"] for item in claim["items"]]
    assert scores == sorted(scores, reverse=True)  # best first
    with store.read() as conn:
        points = curve(conn, pid)
    assert [p["labels"] for p in points] == [20]
    assert 0 < points[0]["accuracy"] <= 1 and set(points[0]["per_class_recall"]) <= {str(d) for d in range(10)}


def run_until_done(store, pid, digits, loop, limit=100):
    loop.run_pending()
    for _ in range(limit):
        with store.read() as conn:
            if get_project(conn, pid).state == "done":
                break
        label_next(store, pid, digits, 10)
        loop.run_pending()
    loop.run_pending()  # the final model
    with store.read() as conn:
        return get_project(conn, pid), curve(conn, pid)


def test_stops_when_the_target_is_reached(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits, target={"metric": "accuracy", "value": 0.8}, stabilize=None)
    project, points = run_until_done(store, pid, digits, loop)
    assert project.stop_reason == "target_reached"
    assert points[-1]["accuracy"] >= 0.8 and points[-1]["labels"] < 200


def test_stops_at_the_budget_with_a_final_model(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits, budget=50, stabilize=None)
    project, points = run_until_done(store, pid, digits, loop)
    assert project.stop_reason == "budget_exhausted"
    assert points[-1]["labels"] == 50


def test_stops_when_predictions_stabilize(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits, budget=None, stabilize={"threshold": 0.5, "rounds": 2})
    project, points = run_until_done(store, pid, digits, loop)
    assert project.stop_reason == "stabilized"
    assert all(p["agreement"] >= 0.5 for p in points[-2:])


def test_stops_when_the_pool_runs_dry(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits, pool=30, evals=0, budget=None, stabilize=None)
    project, points = run_until_done(store, pid, digits, loop)
    assert project.stop_reason == "pool_exhausted" and points[-1]["labels"] == 30


def test_a_failing_round_is_reported_and_not_retried_until_labels_change(store, settings, digits, loop, monkeypatch):
    pid = store_campaign(store, settings, digits)

    def broken_fit(self, X, y):
        raise ValueError("C must be positive")

    monkeypatch.setattr("alloop.models.sklearn.SklearnModel.fit", broken_fit)
    loop.run_pending()
    label_next(store, pid, digits, 20)
    assert loop.run_pending() == 0
    assert "train failed" in loop.errors[pid] and "C" in loop.errors[pid]
    assert loop.run_pending() == 0  # same labels: no retry storm
    claim = claim_next(store, pid, "b", 5, time.time())
    assert len(claim["items"]) == 5  # serving goes on from the last good ranking


def test_labels_arriving_during_training_are_kept(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits)
    loop.run_pending()
    label_next(store, pid, digits, 20)
    from alloop.loop.outcome import record_round_write
    from alloop.loop.snapshot import take_snapshot
    from alloop.loop.training import train_round

    snap = take_snapshot(store, pid)
    label_next(store, pid, digits, 10)  # lands between snapshot and record
    record_round_write(store, train_round(store, settings, snap))
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM labels WHERE project_id = ?", (pid,)).fetchone()[0] == 30
        # the ranking never offers what is already labeled
        labeled = {r[0] for r in conn.execute("SELECT item_idx FROM labels")}
    claim = claim_next(store, pid, "z", 50, time.time())
    assert not labeled & {item["idx"] for item in claim["items"]}


def test_agreement_is_computed_between_successive_models(store, settings, digits, loop):
    pid = store_campaign(store, settings, digits)
    loop.run_pending()
    for _ in range(4):
        label_next(store, pid, digits, 10)
        loop.run_pending()
    with store.read() as conn:
        points = curve(conn, pid)
    assert points[0]["agreement"] is None and 0.0 <= points[1]["agreement"] <= 1.0
    assert np.isfinite(points[1]["train_seconds"])


@pytest.mark.parametrize("name", ["kcenter_greedy", "ranked_batch"])
def test_diversity_strategies_see_the_labeled_items(store, settings, digits, loop, monkeypatch, name):
    """Core-set and ranked batch measure distance to what is labeled: the round must pass it."""
    from alloop import strategies

    seen = []
    real = strategies.rank

    def spy(strategy, inputs, k, **kwargs):
        seen.append(inputs)
        return real(strategy, inputs, k, **kwargs)

    monkeypatch.setattr(strategies, "rank", spy)
    pid = store_campaign(store, settings, digits, strategy={"name": name})
    loop.run_pending()
    label_next(store, pid, digits, 20)
    assert loop.run_pending() == 1
    X, _ = digits
    with store.read() as conn:
        labeled = [int(r[0]) for r in conn.execute(
            "SELECT i.ext_id FROM labels b JOIN items i ON i.idx = b.item_idx ORDER BY b.id")]
    (inputs,) = seen
    np.testing.assert_array_equal(inputs.labeled_embeddings, X[labeled].astype(np.float32))
    assert inputs.embeddings.shape == (400 - 20, X.shape[1])


def _train_once(store, settings, digits, loop, **overrides):
    pid = store_campaign(store, settings, digits, pool=200, evals=50, **overrides)
    loop.run_pending()
    label_next(store, pid, digits, 20)
    assert loop.run_pending() == 1, loop.errors
    assert pid not in loop.errors
    return pid, label_next(store, pid, digits, 10)


def test_prefilter_gets_the_embeddings_its_diversity_step_reads(store, settings, digits, loop):
    # prefilter declares no inputs of its own; its default diversify step (k-center) reads embeddings
    _, claim = _train_once(store, settings, digits, loop, strategy={"name": "prefilter", "params": {"m": 50}})
    assert [item["model_version"] for item in claim["items"]] == [1] * 10


def test_per_cost_ranks_by_informativeness_per_unit_of_the_items_costs(store, settings, digits, loop):
    X, y = digits
    fields = {"name": "t", "labels": [str(d) for d in range(10)], "batch_size": 10, "retrain_every": 20,
              "strategy": {"name": "per_cost", "params": {"base": "entropy"}}}
    pid = campaign.create_project(store, settings, ProjectCreate(**fields)).id
    # odd items cost 100 (entropy is at most log 10 = 2.3 nats, so never above 0.023 per unit)
    import_items(store, pid, "pool", [ItemIn(id=i, features=X[i].tolist(), cost=100.0 if i % 2 else None)
                                      for i in range(200)])
    import_items(store, pid, "eval", [ItemIn(id=i, features=X[i].tolist(), label=str(y[i])) for i in range(200, 250)])
    loop.run_pending()
    label_next(store, pid, digits, 20)
    assert loop.run_pending() == 1, loop.errors
    claim = label_next(store, pid, digits, 10)
    assert all(int(item["id"]) % 2 == 0 for item in claim["items"])  # the cheap ones (no cost: 1)
    assert [item["model_version"] for item in claim["items"]] == [1] * 10


def test_bald_ranks_by_the_models_sampled_probabilities(store, settings, digits, loop):
    pytest.importorskip("torch")
    model = {"name": "torch_mlp", "params": {"hidden": [32], "max_steps": 50, "n_samples": 8}}
    pid, claim = _train_once(store, settings, digits, loop, strategy={"name": "bald"}, model=model)
    scores = [item["score"] for item in claim["items"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert all(s >= 0 for s in scores) and max(scores) > 0  # mutual information, nats


@pytest.mark.parametrize(
    ("strategy", "model", "says"),
    [
        ({"name": "bald"}, {"name": "logistic_regression"}, "needs sampled probabilities"),
        ({"name": "vote_entropy"}, {"name": "random_forest"}, "torch_ensemble"),
        ({"name": "prefilter", "params": {"base": "bald"}}, {"name": "logistic_regression"}, "sampled"),
    ],
)
def test_a_strategy_reading_what_the_campaign_cannot_give_is_refused_at_creation(store, settings, strategy, model, says):
    from alloop.errors import Invalid

    fields = {"name": "t", "labels": ["a", "b"], "strategy": strategy, "model": model}
    with pytest.raises(Invalid, match=says):
        campaign.create_project(store, settings, ProjectCreate(**fields))


def test_patching_to_a_strategy_the_model_cannot_feed_is_refused(store, settings, digits):
    from alloop.errors import Invalid
    from alloop.schemas import ProjectPatch

    pid = store_campaign(store, settings, digits, pool=20, evals=0)
    with pytest.raises(Invalid, match="sampled probabilities"):
        campaign.patch_project(store, pid, ProjectPatch(strategy={"name": "batchbald"}))
    assert campaign.patch_project(store, pid, ProjectPatch(strategy={"name": "kcenter_greedy"})).strategy["name"] == "kcenter_greedy"
