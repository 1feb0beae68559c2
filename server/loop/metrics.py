"""Eval-split metrics recorded with every model version.

Computed from three counts (``bincount`` of hits, true and predicted classes): the same
values as scikit-learn's ``accuracy_score``, ``f1_score(average="macro")`` and
``recall_score(average=None)`` over the classes present in the eval split, without their input
validation, which cost 10-20 ms a round, more than fitting a small model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["evaluate"]


def evaluate(
    y_true: np.ndarray, probs: np.ndarray | None, labels: list[str], predicted: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the classes present in the eval split) and per-class recall.

    Parameters
    ----------
    y_true : (n,) int array of label positions
    probs : (n, C) predicted probabilities; their argmax is the prediction unless ``predicted`` is given
    labels : the project's label names, C of them
    predicted : (n,) int label positions from the model's own ``predict`` (an SVM's vote), optional
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    if y_true.size == 0:
        return {}
    y_pred = np.asarray(predicted if predicted is not None else probs.argmax(axis=1), dtype=np.int64)
    k = len(labels)
    # counts by numpy, then plain floats: for a handful of classes cheaper than numpy calls on arrays of
    # that size, and the same IEEE operations (counts divide exactly as numpy divides them)
    hits = np.bincount(y_true[y_true == y_pred], minlength=k).tolist()
    support = np.bincount(y_true, minlength=k).tolist()
    called = np.bincount(y_pred, minlength=k).tolist()
    present = [c for c in range(k) if support[c]]
    recall, f1 = [], []
    for c in present:
        r = hits[c] / support[c]
        p = hits[c] / called[c] if called[c] > 0 else 0.0
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return {
        "accuracy": sum(hits) / y_true.size,
        "macro_f1": float(np.mean(f1)),
        "per_class_recall": {labels[c]: r for c, r in zip(present, recall)},
        "eval_size": int(y_true.size),
    }
