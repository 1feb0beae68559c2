"""The first batch, before any model exists.

``kmeans++`` (the default) orders the first points by k-means++ seeding over the
features (Arthur & Vassilvitskii, 2007; scikit-learn's greedy variant), so the first
labels cover the feature space instead of its densest corner. ``random`` takes the
pool's seeded random order. Either way the rest of the pool follows in random order.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import kmeans_plusplus

__all__ = ["cold_start_order", "RULES"]

RULES = ("kmeans++", "random")


MAX_CANDIDATES = 20_000
"""k-means++ seeds among at most this many items (a seeded sample of a larger pool): its cost is
O(candidates x k x d), and a round must stay short on a million-item pool."""


def cold_start_order(X: np.ndarray, k: int, *, rule: str, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``X`` (n, d) of the first ``min(k, n)`` items to label, in order."""
    if rule not in RULES:
        raise ValueError(f"unknown cold-start rule {rule!r}; known: {list(RULES)}")
    n = X.shape[0]
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if rule == "random" or k == n:
        return rng.permutation(n)[:k].astype(np.int64)
    candidates = np.sort(rng.choice(n, MAX_CANDIDATES, replace=False)) if n > MAX_CANDIDATES else None
    sample = X if candidates is None else X[candidates]
    _, indices = kmeans_plusplus(
        np.asarray(sample, dtype=np.float64), n_clusters=min(k, sample.shape[0]),
        random_state=int(rng.integers(2**31)),
    )
    indices = np.asarray(indices, dtype=np.int64)
    return indices if candidates is None else candidates[indices]
