"""Eval-split metrics recorded with every model version."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

__all__ = ["evaluate"]


def evaluate(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the classes present in the eval split) and per-class recall.

    Parameters
    ----------
    y_true : (n,) int array of label positions
    probs : (n, C) predicted probabilities
    labels : the project's label names, C of them
    """
    if y_true.size == 0:
        return {}
    y_pred = probs.argmax(axis=1)
    present = np.unique(y_true)
    recall = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class_recall": {labels[c]: float(r) for c, r in zip(present, recall)},
        "eval_size": int(y_true.size),
    }
