"""Cold-start selection from embeddings alone: TypiClust and ProbCover.

- TypiClust: Hacohen et al. (2022), "Active Learning on a Budget: Opposite
  Strategies Suit High and Low Budgets" (scikit-activeml ``TypiClust``): cluster the
  pool into |L| + k clusters, then take the most typical item (inverse mean distance
  to its nearest neighbours) of the largest cluster with no labeled item, in turn.
- ProbCover: Yehuda et al. (2022), "Active Learning Through a Covering Lens"
  (scikit-activeml ``ProbCover``): greedy max coverage of the delta-ball graph.

Approximations for large pools, both documented on the functions: k-means is fitted
on a uniform sample of about 40 rows per cluster and every row assigned to its
nearest centroid (:mod:`alloop.strategies._kmeans`); typicality inside a cluster larger than
TYPICALITY_EXACT rows is computed on a random subset of that size; ProbCover runs on
a random subset of ``max_pool`` rows (coverage of a uniform sample estimates coverage
of the pool).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from alloop.strategies._kmeans import cluster_labels
from alloop.strategies._linalg import (
    check_k,
    chunk_rows,
    embeddings_2d,
    empty_selection,
    labeled_2d,
    min_sq_dist,
    nearest_rows,
    rand_argmax,
    spans,
    sq_dist_block,
    sq_norms,
)
from alloop.strategies.base import StrategyInputs
from alloop.strategies.registry import register

__all__ = ["probcover", "typiclust"]

TYPICALITY_EXACT = 4_096
DELTAS = tuple(np.round(np.arange(0.2, 2.2, 0.2), 10))
"""scikit-activeml's default radius grid for ProbCover (suits unit-scale embeddings)."""


def _typicality(x: np.ndarray, n_neighbors: int, eps: float = 1e-7) -> np.ndarray:
    """Typicality (s,) of each row: 1 / mean distance to its nearest neighbours (self included).

    Mirrors scikit-activeml: with s rows, kk = min(s - 1, n_neighbors) and the mean
    is the sum of the kk + 1 smallest distances (the first is 0, to itself) over kk.
    """
    s = x.shape[0]
    if s == 1:
        return np.ones(1)
    kk = min(s - 1, n_neighbors)
    xx = sq_norms(x)
    knn_sum = np.empty(s, dtype=np.float64)
    for a, b in spans(s, chunk_rows(s)):
        d2 = sq_dist_block(x[a:b], xx[a:b], x, xx)
        d2[np.arange(b - a), np.arange(a, b)] = 0.0
        near = np.partition(d2, kk, axis=1)[:, : kk + 1]
        knn_sum[a:b] = np.sqrt(near.astype(np.float64)).sum(axis=1)
    return 1.0 / ((knn_sum + eps) / kk)


def _most_typical(
    x: np.ndarray, members: np.ndarray, n_neighbors: int, rng: np.random.Generator
) -> tuple[int, float]:
    """Most typical member of one cluster (pool index) and its typicality."""
    if members.size > TYPICALITY_EXACT:
        members = np.sort(rng.choice(members, TYPICALITY_EXACT, replace=False))
    typ = _typicality(x[members], n_neighbors)
    best = rand_argmax(typ, rng)
    return int(members[best]), float(typ[best])


@register(
    "typiclust", kind="batch", needs={"embeddings"}, params={"n_neighbors": 20}
)
def typiclust(
    inputs: StrategyInputs, k: int, *, rng: np.random.Generator, n_neighbors: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust (Hacohen et al., 2022): the most typical item of each uncovered cluster.

    The pool is clustered into ``min(m + k, n)`` k-means clusters (m labeled items,
    assigned to their nearest cluster, mark theirs covered); largest uncovered
    cluster first, ties by ``rng``. When every cluster is covered, the rest are
    random. The paper uses 20 neighbours, scikit-activeml 5.

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, typicality of the pick (0 for random fill)
    """
    k = check_k(k)
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
    x = embeddings_2d(inputs.n, inputs.embeddings)
    lab = labeled_2d(inputs.labeled_embeddings, x.shape[1])
    n = x.shape[0]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    n_clusters = min(lab.shape[0] + k, n)
    labels, centers = cluster_labels(x, n_clusters, rng)
    sizes = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    if lab.shape[0]:
        sizes[np.unique(nearest_rows(lab, centers))] = 0.0
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=n_clusters))])
    picks, scores = np.empty(k, dtype=np.int64), np.zeros(k, dtype=np.float64)
    taken = np.zeros(n, dtype=bool)
    for t in range(k):
        if sizes.max() > 0:
            c = rand_argmax(sizes, rng)
            picks[t], scores[t] = _most_typical(x, order[starts[c] : starts[c + 1]], n_neighbors, rng)
            sizes[c] = 0.0
        else:
            free = np.flatnonzero(~taken)
            picks[t] = free[rng.integers(free.size)]
        taken[picks[t]] = True
    return picks, scores


def _delta_by_purity(
    x: np.ndarray, n_classes: int, alpha: float, rng: np.random.Generator
) -> float:
    """Largest delta of DELTAS whose ball graph keeps purity >= alpha (scikit-activeml).

    Purity is the share of points whose delta-ball holds no point of another
    k-means cluster (k = n_classes). Falls back to the smallest delta. Rows are
    sorted by cluster, so each cluster's distances to the others are two plain
    blocks (no same-cluster mask).
    """
    labels, _ = cluster_labels(x, min(n_classes, x.shape[0]), rng)
    order = np.argsort(labels, kind="stable")
    xs = x[order]
    xx = sq_norms(xs)
    n = xs.shape[0]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels))])
    other = np.full(n, np.inf, dtype=np.float32)  # squared, in sorted order
    for lo, hi in pairwise(bounds):
        for a, b in spans(hi - lo, chunk_rows(n)):
            rows = slice(lo + a, lo + b)
            for ca, cb in ((0, lo), (hi, n)):
                if cb > ca:
                    block = sq_dist_block(xs[rows], xx[rows], xs[ca:cb], xx[ca:cb])
                    np.minimum(other[rows], block.min(axis=1), out=other[rows])
    other = np.sqrt(other)
    best = DELTAS[0]
    for delta in DELTAS:
        if np.mean(other > delta) < alpha:
            break
        best = delta
    return float(best)


def _ball_graph(x: np.ndarray, delta: float) -> np.ndarray:
    """Dense symmetric (s, s) bool adjacency: ``||x_i - x_j|| <= delta`` (self included)."""
    xx = sq_norms(x)
    edges = np.empty((x.shape[0], x.shape[0]), dtype=bool)
    for a, b in spans(x.shape[0], chunk_rows(x.shape[0])):
        block = sq_dist_block(x[a:b], xx[a:b], x, xx)
        block[np.arange(b - a), np.arange(a, b)] = 0.0
        np.less_equal(block, np.float32(delta) ** 2, out=edges[a:b])
    return edges


@register(
    "probcover",
    kind="batch",
    needs={"embeddings"},
    params={"delta": None, "alpha": 0.95, "n_classes": None, "max_pool": 20_000},
)
def probcover(
    inputs: StrategyInputs,
    k: int,
    *,
    rng: np.random.Generator,
    delta: float | None = None,
    alpha: float = 0.95,
    n_classes: int | None = None,
    max_pool: int = 20_000,
) -> tuple[np.ndarray, np.ndarray]:
    """ProbCover (Yehuda et al., 2022): greedy coverage of the delta-ball graph.

    Each pick is the candidate whose delta-ball holds the most points not yet
    covered (by a labeled item or an earlier pick); ties by ``rng``. With ``delta``
    None it is the largest of DELTAS whose purity against a k-means clustering into
    ``n_classes`` (default: the probs' C, else 2) stays >= ``alpha``, as in
    scikit-activeml. Pools above ``max_pool`` rows run on a uniform random subset
    of that size (memory: a dense ``max_pool**2`` bool graph).

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, points newly covered by the pick
    """
    k = check_k(k)
    x = embeddings_2d(inputs.n, inputs.embeddings)
    lab = labeled_2d(inputs.labeled_embeddings, x.shape[1])
    if max_pool < 1 or not 0 < alpha < 1:
        raise ValueError(f"need max_pool >= 1 and 0 < alpha < 1, got {max_pool}, {alpha}")
    n = x.shape[0]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    rows = np.arange(n) if n <= max_pool else np.sort(rng.choice(n, max_pool, replace=False))
    xs = x[rows]
    if delta is None:
        c = n_classes or (inputs.probs.shape[1] if inputs.probs is not None else 2)
        delta = _delta_by_purity(xs, max(int(c), 2), alpha, rng)
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}")
    covered = np.zeros(xs.shape[0], dtype=bool)
    if lab.shape[0]:
        covered = min_sq_dist(xs, lab) <= np.float32(delta) ** 2
    picks, scores = _greedy_cover(_ball_graph(xs, delta), covered, min(k, xs.shape[0]), rng)
    picks = rows[picks]
    if picks.size < k:  # the subset ran out: fill at random from the rest
        rest = np.setdiff1d(np.arange(n), picks)
        extra = rng.choice(rest, k - picks.size, replace=False)
        picks = np.concatenate([picks, extra])
        scores = np.concatenate([scores, np.zeros(extra.size)])
    return picks.astype(np.int64), scores


def _greedy_cover(
    edges: np.ndarray, covered: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy max coverage on a symmetric bool graph; ``covered`` (s,) updated in place.

    Degrees count uncovered neighbours; by symmetry the covered columns' share is a
    sum over the covered rows, and each pick subtracts the rows it newly covers.
    """
    degree = np.count_nonzero(edges, axis=1).astype(np.float64)
    if covered.any():
        degree -= np.add.reduce(edges[covered], axis=0, dtype=np.int64)
    picks, scores = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.float64)
    for t in range(k):
        pick = rand_argmax(degree, rng)
        picks[t], scores[t] = pick, degree[pick]
        newly = np.flatnonzero(edges[pick] & ~covered)
        covered[newly] = True
        if newly.size:
            degree -= np.add.reduce(edges[newly], axis=0, dtype=np.int64)
        degree[picks[: t + 1]] = -np.inf
    return picks, scores
