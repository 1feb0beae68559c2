"""Multi-label adapters: one-vs-rest over every scikit-learn alias, and the sigmoid torch heads."""

from __future__ import annotations

import numpy as np
import pytest
from multilabel_data import ml_data
from sklearn.metrics import f1_score

from alloop.models import UnknownModel
from alloop.models.multilabel import OneVsRest, build_multilabel, check_multilabel, load_multilabel
from alloop.models.registry import ALIASES


@pytest.fixture(scope="module")
def data():
    X, Y = ml_data(400)
    return X, Y


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_every_sklearn_alias_gives_per_label_probabilities(data, name):
    X, Y = data
    params = {"max_iter": 2000} if name == "mlp" else {}  # the default 500 stops short on 200 items
    model = build_multilabel({"name": name, "params": params}, Y.shape[1], seed=0)
    assert isinstance(model, OneVsRest)
    model.fit(X[:200], Y[:200])
    probs = model.predict_proba(X[200:])
    assert probs.shape == (200, Y.shape[1]) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    micro = f1_score(Y[200:], probs > 0.5, average="micro")
    assert micro > f1_score(Y[200:], np.zeros_like(Y[200:]), average="micro", zero_division=0)


def test_a_label_seen_with_one_value_gets_a_constant_probability(data):
    X, Y = data
    Y = Y[:30].copy()
    Y[:, 0] = 0  # never applies so far
    Y[:, 1] = 1  # always applies so far
    model = build_multilabel({"name": "logistic_regression"}, Y.shape[1], seed=0)
    model.fit(X[:30], Y)
    probs = model.predict_proba(X[100:150])
    assert np.all(probs[:, 0] == 0.0) and np.all(probs[:, 1] == 1.0)
    assert np.unique(probs[:, 2]).size > 1


def test_an_svm_in_decision_mode_answers_with_sigmoid_margins(data):
    X, Y = data
    model = build_multilabel({"name": "linear_svm"}, Y.shape[1], seed=0)
    model.fit(X[:200], Y[:200])
    decision = model.members[2].fitted.decision_function(X[200:210])
    np.testing.assert_allclose(model.predict_proba(X[200:210])[:, 2], 1 / (1 + np.exp(-decision)), rtol=1e-5)


def test_saved_and_loaded_one_vs_rest_predicts_the_same(data, tmp_path):
    X, Y = data
    model = build_multilabel({"name": "random_forest", "params": {"n_estimators": 10}}, Y.shape[1], seed=1)
    model.fit(X[:100], Y[:100])
    model.save(tmp_path / "m")
    again = load_multilabel({"name": "random_forest"}, Y.shape[1], tmp_path / "m")
    np.testing.assert_array_equal(model.predict_proba(X[100:120]), again.predict_proba(X[100:120]))


@pytest.mark.parametrize("name", ["torch_mlp", "torch_ensemble"])
def test_torch_heads_learn_label_sets_and_round_trip(data, tmp_path, name):
    X, Y = data
    spec = {"name": name, "params": {"hidden": [32], "max_epochs": 60, **({"members": 3} if name == "torch_ensemble" else {})}}
    model = build_multilabel(spec, Y.shape[1], seed=0)
    model.fit(X[:300], Y[:300])
    probs = model.predict_proba(X[300:])
    assert probs.shape == (100, Y.shape[1])
    assert not np.allclose(probs.sum(axis=1), 1.0)  # sigmoids, not a softmax
    assert f1_score(Y[300:], probs > 0.5, average="micro") > 0.6
    model.save(tmp_path / "t")
    again = load_multilabel(spec, Y.shape[1], tmp_path / "t")
    np.testing.assert_allclose(again.predict_proba(X[300:310]), probs[:10], rtol=1e-6)


def test_unknown_models_and_bad_parameters_are_refused():
    with pytest.raises(UnknownModel, match="unknown model"):
        check_multilabel({"name": "nope"}, 3)
    with pytest.raises(UnknownModel, match="bad parameters"):
        check_multilabel({"name": "logistic_regression", "params": {"C": -1}}, 3)


def test_the_transformer_gets_a_sigmoid_head_and_round_trips(tiny_bert, texts, tmp_path):
    pytest.importorskip("transformers")
    X, y, test = texts
    Y = np.zeros((len(X), 3), dtype=np.int8)
    Y[np.arange(len(X)), y] = 1
    Y[::3, 2] = 1  # a second label on every third text
    spec = {"name": "transformer", "params": {"path": str(tiny_bert), "epochs": 1, "batch_size": 8}}
    check_multilabel(spec, 3)
    model = build_multilabel(spec, 3, seed=0)
    model.fit(X, Y)
    probs = model.predict_proba(test)
    assert probs.shape == (len(test), 3) and np.all((probs > 0) & (probs < 1))
    assert not np.allclose(probs.sum(axis=1), 1.0)  # sigmoids, not a softmax
    assert model.sample_proba(test, 2).shape == (2, len(test), 3)
    model.save(tmp_path / "v1")
    again = load_multilabel(spec, 3, tmp_path / "v1")
    np.testing.assert_allclose(again.predict_proba(test), probs, rtol=1e-5, atol=1e-6)


def test_a_multilabel_text_project_trains_the_transformer_in_the_loop(client, tiny_bert, texts):
    pytest.importorskip("transformers")
    from helpers import wait_for

    X, y, _ = texts
    labels = ["spam", "ham", "short"]
    answers = [[labels[k]] + (["short"] if len(t) < 20 else []) for t, k in zip(X, y)]
    body = {"name": "t", "labels": labels, "task": "multilabel", "input": "text", "batch_size": 5,
            "retrain_every": 5, "budget": 20, "stabilize": None, "dedup": "off",
            "encoder": {"name": "hashing", "params": {"dim": 64}},
            "model": {"name": "transformer", "params": {"path": str(tiny_bert), "epochs": 1, "batch_size": 8}}}
    pid = client.post("/projects", json=body).json()["id"]
    client.post(f"/projects/{pid}/items", json={"items": [{"id": f"x{i}", "text": t} for i, t in enumerate(X[:16])]})
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": f"e{i}", "text": X[i], "label": answers[i]} for i in range(16, 20)]})
    wait_for(client, pid, lambda s: s["ranking"] is not None)
    served = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5}).json()["items"]
    client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": it["id"], "label": answers[int(it["id"][1:])]} for it in served]})
    status = wait_for(client, pid, lambda s: s["model_version"] is not None, timeout=120)
    assert status["last_error"] is None and 0.0 <= status["metrics"]["micro_f1"] <= 1.0
