"""Eval-split metrics of a multi-label model: micro-F1, macro-F1, subset accuracy, Hamming loss.

A label applies where its probability is above 0.5. The values are scikit-learn's
``f1_score(average="micro")``, ``f1_score(average="macro", zero_division=0)`` over the labels that
occur in the eval split's gold or in the predictions (a label absent from both would count as a
perfect 1.0 or a 0.0 depending on convention; it is left out, as classification's macro-F1 leaves
out classes absent from the eval split), ``accuracy_score`` on label sets (subset accuracy: the whole
set right) and ``hamming_loss``, computed with numpy from per-label counts.

``micro_f1`` is the metric the stopping rules and the forecast follow for multi-label projects
(:data:`PRIMARY`); ``target`` may name any of :data:`TARGETS`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PRIMARY", "TARGETS", "evaluate_multilabel"]

PRIMARY = "micro_f1"
TARGETS = ("micro_f1", "macro_f1", "subset_accuracy")
"""Metrics a multi-label project's target may name (higher is better; Hamming loss is reported only)."""


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)


def evaluate_multilabel(Y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Micro- and macro-F1, subset accuracy, Hamming loss and per-label F1 on the eval split.

    Parameters
    ----------
    Y_true : (n, L) 0/1 gold label sets
    probs : (n, L) per-label probabilities; a label is predicted where its probability is > 0.5
    labels : the project's label names, L of them
    """
    Y_true = np.asarray(Y_true, dtype=bool)
    if Y_true.shape[0] == 0:
        return {}
    Y_pred = np.asarray(probs) > 0.5
    tp = (Y_true & Y_pred).sum(axis=0).astype(np.float64)
    fp = (~Y_true & Y_pred).sum(axis=0).astype(np.float64)
    fn = (Y_true & ~Y_pred).sum(axis=0).astype(np.float64)
    present = np.flatnonzero(Y_true.any(axis=0) | Y_pred.any(axis=0))
    per_label = _f1(tp, fp, fn)
    return {
        "micro_f1": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "macro_f1": float(per_label[present].mean()) if present.size else 0.0,
        "subset_accuracy": float(np.all(Y_true == Y_pred, axis=1).mean()),
        "hamming_loss": float((Y_true != Y_pred).mean()),
        "per_label_f1": {labels[j]: float(per_label[j]) for j in present},
        "label_cardinality": float(Y_pred.sum(axis=1).mean()),
        "eval_size": int(Y_true.shape[0]),
    }
