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


def test_models_without_a_multilabel_form_are_refused():
    with pytest.raises(UnknownModel, match="no multi-label head"):
        check_multilabel({"name": "transformer"}, 3)
    with pytest.raises(UnknownModel, match="unknown model"):
        check_multilabel({"name": "nope"}, 3)
