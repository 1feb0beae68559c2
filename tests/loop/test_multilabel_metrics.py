"""Multi-label eval metrics agree with scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

from alloop.tasks.multilabel_metrics import evaluate_multilabel

LABELS = ["a", "b", "c", "d"]


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 2, size=(50, 4))
    Y[:, 3] = 0  # a label nobody has
    probs = rng.uniform(size=(50, 4)).astype(np.float32)
    probs[:, 3] = 0.1  # and nobody predicts
    pred = probs > 0.5
    got = evaluate_multilabel(Y, probs, LABELS)
    assert got["micro_f1"] == pytest.approx(f1_score(Y, pred, average="micro"))
    assert got["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro", labels=[0, 1, 2]))
    assert got["subset_accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert got["hamming_loss"] == pytest.approx(hamming_loss(Y, pred))
    assert set(got["per_label_f1"]) == {"a", "b", "c"}
    assert got["eval_size"] == 50


def test_a_hand_worked_example():
    Y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    probs = np.array([[0.9, 0.2, 0.4], [0.1, 0.8, 0.7], [0.2, 0.1, 0.3]])
    got = evaluate_multilabel(Y, probs, ["x", "y", "z"])
    # tp: x 1, y 1, z 0; fp: z 1; fn: z 1 -> micro F1 = 2*2 / (2*2 + 1 + 1) = 4/6
    assert got["micro_f1"] == pytest.approx(4 / 6)
    assert got["macro_f1"] == pytest.approx((1 + 1 + 0) / 3)
    assert got["subset_accuracy"] == pytest.approx(1 / 3)  # rows 0 and 1 get z wrong, row 2 is right (empty set)
    assert got["hamming_loss"] == pytest.approx(2 / 9)


def test_no_eval_items_no_metrics():
    assert evaluate_multilabel(np.empty((0, 3)), np.empty((0, 3)), ["x", "y", "z"]) == {}
