"""A two-class SVM's round scores the pool and predicts the eval split in one decision pass, with the
values two separate calls give; other models, and splits past one chunk, take the two calls."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification

from alloop.loop.snapshot import Snapshot
from alloop.loop.training import _pool_and_eval, eval_metrics, pool_outputs
from alloop.models import build_model

LABELS = ["a", "b", "c"]  # a third label nobody gave: a column of -inf decisions and 0 probabilities


@pytest.fixture(scope="module")
def snap():
    X, y = make_classification(n_samples=260, n_features=6, n_informative=4, random_state=3)
    X = X.astype(np.float32)
    return Snapshot(project=None, X=X, labeled_rows=np.arange(40), labeled_y=y[:40], pool_idx=np.arange(40, 200) + 1000,
                    pool_rows=np.arange(40, 200), eval_rows=np.arange(200, 260), eval_y=y[200:])


def _fitted(spec, snap):
    model = build_model(spec, len(LABELS), seed=0)
    model.fit(snap.X[snap.labeled_rows], snap.labeled_y)
    return model


@pytest.mark.parametrize("spec", [{"name": "svm", "params": {"gamma": "auto"}},
                                  {"name": "svm", "params": {"kernel": "linear", "C": 0.1}}])
def test_one_pass_gives_what_two_calls_give(spec, snap):
    model = _fitted(spec, snap)
    (probs, decisions), predicted = _pool_and_eval(model, snap, chunk=65_536)
    expected_probs, expected_decisions = pool_outputs(model, snap, snap.pool_rows, 65_536)
    assert predicted is not None
    assert np.array_equal(probs, expected_probs) and probs.dtype == np.float32
    assert np.array_equal(decisions, expected_decisions)
    assert np.array_equal(predicted, model.predict(snap.X[snap.eval_rows]))
    assert eval_metrics(model, snap, LABELS, 65_536, predicted) == eval_metrics(model, snap, LABELS, 65_536)


def test_two_calls_past_one_chunk_or_for_a_model_that_does_not_vote_by_sign(snap):
    svm = _fitted({"name": "svm", "params": {"gamma": "auto"}}, snap)
    (probs, decisions), predicted = _pool_and_eval(svm, snap, chunk=200)  # 160 pool + 60 eval rows: two chunks
    assert predicted is None
    assert np.array_equal(decisions, pool_outputs(svm, snap, snap.pool_rows, 200)[1])
    for spec in ({"name": "logistic_regression"}, {"name": "svm", "calibration": "sigmoid"}):
        model = _fitted(spec, snap)
        (probs, decisions), predicted = _pool_and_eval(model, snap, chunk=65_536)
        assert predicted is None and decisions is None
        assert np.array_equal(probs, pool_outputs(model, snap, snap.pool_rows, 65_536)[0])
