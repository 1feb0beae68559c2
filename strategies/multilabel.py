"""Multi-label uncertainty: strategies over per-label probabilities.

In a multi-label project the model gives, for each candidate, one independent probability per label
(``probs`` is (n, L), row sums anything in [0, L]); these strategies read them so. They rank for
multi-label projects only, and the classification strategies (whose probabilities are one
distribution over classes) for classification projects only (:func:`alloop.strategies.registry.check_task`).

- ``binary_entropy_mean`` / ``binary_entropy_max``: the mean, or the largest, binary entropy
  ``H(p) = -p log p - (1-p) log(1-p)`` over the labels (the binary-relevance reading of entropy
  sampling; Settles, 2009, and e.g. Wu et al., 2020, "Multi-label active learning algorithms for image
  classification: overview and future promise").
- ``br_margin``: ``1 - min_j |2 p_j - 1|``: the label closest to its decision boundary (Brinker, 2006,
  "On active learning in multi-label classification": the smallest binary-relevance margin). Binary
  entropy is a decreasing function of ``|2p - 1|``, so on probabilities it ranks exactly as
  ``binary_entropy_max`` (the paper reads SVM margins; an SVM's probabilities here are sigmoids of
  them, which keeps the order): both names are kept, as the literature uses both.
- ``mmc``: maximum loss reduction with maximal confidence (Yang et al., 2009, "Effective multi-label
  active learning for text classification", KDD): the expected loss reduction of the binary-relevance
  model, with the label set it predicts sized by a label-count predictor trained on the labeled items.
- ``cardinality_inconsistency``: how far the number of labels the model predicts for an item
  (``p > 0.5``) is from the mean label cardinality of the labeled items (Li & Guo, 2013, "Active
  learning with multi-label SVM classification", IJCAI: label cardinality inconsistency).
"""

from __future__ import annotations

import numpy as np

from alloop.strategies.base import StrategyInputs
from alloop.strategies.registry import register

__all__ = ["binary_entropy", "br_margin", "cardinality_inconsistency", "mean_entropy", "max_entropy", "mmc",
           "predicted_counts"]

ML = ("multilabel",)
_EPS = 1e-12


def _probs(inputs: StrategyInputs) -> np.ndarray:
    """The per-label probabilities as a 2-D float64 array clipped to [0, 1]."""
    probs = np.asarray(inputs.probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"multi-label probabilities must be (n, L), got shape {probs.shape}")
    return np.clip(probs, 0.0, 1.0)


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Elementwise ``-p log p - (1-p) log(1-p)`` in nats; 0 at p = 0 and p = 1."""
    q = 1.0 - p
    return -(p * np.log(np.maximum(p, _EPS)) + q * np.log(np.maximum(q, _EPS)))


@register("binary_entropy_mean", tasks=ML)
def mean_entropy(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Mean binary entropy over the labels: the item the model is least sure about on the whole."""
    probs = _probs(inputs)
    if probs.shape[1] == 0:
        return np.zeros(probs.shape[0])
    return binary_entropy(probs).mean(axis=1)


@register("binary_entropy_max", tasks=ML)
def max_entropy(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Largest binary entropy over the labels: the item with the one label the model doubts most."""
    probs = _probs(inputs)
    if probs.shape[1] == 0:
        return np.zeros(probs.shape[0])
    return binary_entropy(probs).max(axis=1)


@register("br_margin", tasks=ML)
def br_margin(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """1 - min_j |2 p_j - 1|: the smallest binary-relevance margin over the labels (Brinker, 2006)."""
    probs = _probs(inputs)
    if probs.shape[1] == 0:
        return np.zeros(probs.shape[0])
    return 1.0 - np.abs(2.0 * probs - 1.0).min(axis=1)


def _sorted_normalized(probs: np.ndarray) -> np.ndarray:
    """Each row sorted in decreasing order and scaled to sum 1 (uniform where a row sums to 0): MMC's
    features for the label-count predictor."""
    ordered = -np.sort(-probs, axis=1)
    sums = ordered.sum(axis=1, keepdims=True)
    uniform = np.full_like(ordered, 1.0 / max(1, probs.shape[1]))
    return np.where(sums > 0, ordered / np.where(sums > 0, sums, 1.0), uniform)


def predicted_counts(probs: np.ndarray, labeled_probs: np.ndarray, labeled_targets: np.ndarray) -> np.ndarray:
    """(n,) int: how many labels each candidate likely has (MMC's label-count predictor).

    A multinomial logistic regression learns the labeled items' label counts from their sorted,
    normalized per-label probabilities (Yang et al., 2009, section 3.2); with one count seen so far it is
    that count, and with no labeled item the expected count ``round(sum_j p_j)``. At least one label is
    predicted: MMC's predicted set is never empty.
    """
    counts = np.asarray(labeled_targets).sum(axis=1).astype(np.int64)
    seen = np.unique(counts)
    if seen.size == 0:
        predicted = np.rint(probs.sum(axis=1)).astype(np.int64)
    elif seen.size == 1:
        predicted = np.full(probs.shape[0], seen[0], dtype=np.int64)
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=1000)
        model.fit(_sorted_normalized(np.clip(np.asarray(labeled_probs, dtype=np.float64), 0, 1)), counts)
        predicted = np.asarray(model.predict(_sorted_normalized(probs)), dtype=np.int64)
    return np.clip(predicted, 1, max(1, probs.shape[1]))


@register("mmc", needs={"probs", "labeled_probs", "labeled_targets"}, tasks=ML)
def mmc(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Maximum loss reduction with maximal confidence (Yang et al., 2009).

    The predicted label set ``y`` marks the ``m`` most probable labels +1 and the rest -1, ``m`` from
    :func:`predicted_counts`; the score is the approximate expected loss reduction
    ``sum_j (1 - y_j f_j(x)) / 2``, with ``f_j = 2 p_j - 1`` in place of the paper's SVM outputs (the
    project's model may be any binary-relevance model; its probability, mapped to [-1, 1], is the signed
    confidence the formula reads).
    """
    probs = _probs(inputs)
    n, L = probs.shape
    if n == 0 or L == 0:
        return np.zeros(n)
    if inputs.labeled_probs is None or inputs.labeled_targets is None:
        raise ValueError("mmc needs the labeled items' probabilities and label sets")
    m = predicted_counts(probs, inputs.labeled_probs, inputs.labeled_targets)
    rank = np.argsort(np.argsort(-probs, axis=1, kind="stable"), axis=1, kind="stable")  # 0 = most probable
    y = np.where(rank < m[:, None], 1.0, -1.0)
    return ((1.0 - y * (2.0 * probs - 1.0)) / 2.0).sum(axis=1)


@register("cardinality_inconsistency", needs={"probs", "labeled_targets"}, tasks=ML)
def cardinality_inconsistency(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """|labels predicted (p > 0.5) - mean label cardinality of the labeled items| (Li & Guo, 2013)."""
    probs = _probs(inputs)
    if inputs.labeled_targets is None:
        raise ValueError("cardinality_inconsistency needs the labeled items' label sets")
    targets = np.asarray(inputs.labeled_targets)
    cardinality = float(targets.sum(axis=1).mean()) if targets.shape[0] else 0.0
    return np.abs((probs > 0.5).sum(axis=1) - cardinality)
