"""Eval-split metrics recorded with every model version.

Computed with numpy from one confusion count (``bincount`` over true x predicted): the same
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
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    hits = np.diag(confusion).astype(np.float64)
    support, called = confusion.sum(axis=1), confusion.sum(axis=0)
    present = np.flatnonzero(support)
    recall = hits[present] / support[present]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(called[present] > 0, hits[present] / called[present], 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "accuracy": float(hits.sum() / y_true.size),
        "macro_f1": float(f1.mean()),
        "per_class_recall": {labels[c]: float(r) for c, r in zip(present, recall)},
        "eval_size": int(y_true.size),
    }
