"""The eval metrics recorded every round equal scikit-learn's, computed from one confusion count."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from alloop.loop.metrics import evaluate


@pytest.mark.parametrize("seed", range(40))
def test_metrics_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 7)), int(rng.integers(1, 80))
    y = rng.integers(0, k, n)
    probs = rng.random((n, k))
    predicted = probs.argmax(axis=1)
    present = np.unique(y)
    got = evaluate(y, probs, [f"c{i}" for i in range(k)])
    assert got["accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
    assert got["macro_f1"] == pytest.approx(
        f1_score(y, predicted, labels=present, average="macro", zero_division=0), abs=1e-12)
    recall = recall_score(y, predicted, labels=present, average=None, zero_division=0)
    assert list(got["per_class_recall"]) == [f"c{c}" for c in present]
    assert np.allclose(list(got["per_class_recall"].values()), recall)
    assert got["eval_size"] == n


def test_predictions_from_the_model_win_over_the_probabilities():
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.9, 0.1]] * 4)
    assert evaluate(y, probs, ["a", "b"])["accuracy"] == 0.5
    assert evaluate(y, None, ["a", "b"], predicted=np.array([0, 1, 1, 0]))["accuracy"] == 1.0
    assert evaluate(np.array([], dtype=np.int64), None, ["a", "b"]) == {}
