"""Multi-label campaigns through the loop: label matrices, rounds that rank by label sets, micro-F1 that rises."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from helpers import wait_for, wait_for_ranking
from multilabel_data import LABELS, answer, ml_body, ml_data, ml_items
from sklearn.metrics import f1_score

from alloop import campaign
from alloop.loop import snapshot
from alloop.loop.snapshot import forget_snapshots, take_snapshot
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import import_items
from alloop.store.labels import submit_labels


@pytest.fixture(scope="module")
def data():
    return ml_data(700, seed=3)


def _store_project(store, settings, data, pool=100, evals=30):
    X, Y = data
    project = campaign.create_project(store, settings, ProjectCreate(**ml_body()))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(pool)])
    import_items(store, project.id, "eval", [ItemIn(id=i, features=X[i].tolist(), label=answer(Y[i]))
                                             for i in range(pool, pool + evals)])
    return project.id


def _label(store, pid, data, ids):
    _, Y = data
    submit_labels(store, pid, [LabelIn(item_id=i, label=answer(Y[i])) for i in ids], time.time())


def test_the_snapshot_holds_label_matrices_and_added_labels_match_a_whole_read(store, settings, data, monkeypatch):
    _, Y = data
    reads = []
    real = snapshot._full
    monkeypatch.setattr(snapshot, "_full", lambda *a: reads.append(1) or real(*a))
    forget_snapshots()
    pid = _store_project(store, settings, data)
    first = take_snapshot(store, pid)
    assert first.labeled_y.shape == (0, len(LABELS))
    np.testing.assert_array_equal(first.eval_y, Y[100:130])
    _label(store, pid, data, [4, 9, 2])
    added = take_snapshot(store, pid)
    assert len(reads) == 1  # the new labels alone
    np.testing.assert_array_equal(added.labeled_y, Y[[4, 9, 2]])
    forget_snapshots()
    whole = take_snapshot(store, pid)
    np.testing.assert_array_equal(whole.labeled_y, added.labeled_y)
    np.testing.assert_array_equal(whole.pool_idx, added.pool_idx)


def _campaign(client, data, strategy, budget=150, pool=450, evals=200, **extra):
    X, Y = data
    pid = client.post("/projects", json=ml_body(strategy={"name": strategy}, budget=budget, stabilize=None,
                                                **extra)).json()["id"]
    client.post(f"/projects/{pid}/items", json=ml_items(X, range(pool)))
    client.post(f"/projects/{pid}/items", json=ml_items(X, range(pool, pool + evals), Y, "eval"))
    wait_for_ranking(client, pid)
    while True:
        served = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 10, "wait": 10}).json()
        if served["done"]:
            break
        if served["items"]:
            client.post(f"/projects/{pid}/labels", json={"labels": [
                {"item_id": it["id"], "label": answer(Y[int(it["id"][1:])])} for it in served["items"]]})
    return wait_for(client, pid, lambda s: s["settled"], timeout=60)


@pytest.mark.parametrize("strategy", ["mmc", "binary_entropy_mean", "br_margin"])
def test_a_campaign_raises_micro_f1_above_a_random_models(client, data, strategy):
    _, Y = data
    status = _campaign(client, data, strategy)
    assert status["stop_reason"] == "budget_exhausted" and status["labeled"] == 150
    curve = client.get(f"/projects/{status['id']}/metrics").json()["curve"]
    gold = Y[450:650]
    coin = np.random.default_rng(0).random(gold.shape) < 0.5  # a model that guesses each label
    chance = f1_score(gold, coin, average="micro")
    assert curve[-1]["micro_f1"] > chance + 0.15
    assert curve[-1]["micro_f1"] > curve[0]["micro_f1"]
    chosen = [json.loads(line) for line in client.get(f"/projects/{status['id']}/export").text.splitlines()]
    assert {row["strategy"] for row in chosen} >= {strategy}


def test_a_torch_mlp_campaign_runs(client, data):
    status = _campaign(client, data, "binary_entropy_max", budget=60,
                       model={"name": "torch_mlp", "params": {"hidden": [32], "max_steps": 100}})
    assert status["model_version"] is not None and status["metrics"]["micro_f1"] > 0.4
    assert status["last_error"] is None


def test_a_multilabel_text_project_learns_from_the_encoders_embeddings(client):
    words = {"red": "apple cherry", "green": "grass leaf", "blue": "sky ocean", "cyan": "teal aqua",
             "pink": "rose flamingo"}
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        chosen = [name for name in LABELS if rng.random() < 0.35]
        text = " ".join(words[name] for name in chosen) or "nothing at all"
        rows.append((f"{text} {i}", chosen))
    body = ml_body(input="text", budget=40, encoder={"name": "hashing", "params": {"dim": 256}}, stabilize=None)
    pid = client.post("/projects", json=body).json()["id"]
    client.post(f"/projects/{pid}/items", json={"items": [{"id": f"t{i}", "text": t} for i, (t, _) in enumerate(rows[:90])]})
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": f"e{i}", "text": t, "label": y} for i, (t, y) in enumerate(rows[90:])]})
    wait_for(client, pid, lambda s: s["to_embed"] == 0 and s["ranking"] is not None)
    truth = {f"t{i}": y for i, (_, y) in enumerate(rows)}
    for _ in range(30):
        served = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 10, "wait": 10}).json()
        if served["done"]:
            break
        assert all("text" in it for it in served["items"])
        client.post(f"/projects/{pid}/labels", json={"labels": [
            {"item_id": it["id"], "label": truth[it["id"]]} for it in served["items"]]})
    status = wait_for(client, pid, lambda s: s["settled"], timeout=60)
    assert status["metrics"]["micro_f1"] > 0.65  # guessing each label with a coin scores about 0.39 here
