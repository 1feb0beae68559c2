"""Distance-based batch selection: k-center greedy (core-set) and ranked batch mode.

Both keep, for every candidate, its distance to the nearest "center" (labeled items
and the picks so far) and update it incrementally: after each pick one matrix-vector
product ``X @ c`` (BLAS, float32) refreshes every distance, so a batch of k costs
O(k n d) time and O(n) extra memory, never an (n, n) matrix.

- k-center greedy: Sener & Savarese (2018), "Active Learning for Convolutional
  Neural Networks: A Core-Set Approach" (scikit-activeml ``CoreSet``, small-text
  ``GreedyCoreset``).
- ranked batch mode: Cardoso et al. (2017), "Ranked batch-mode active learning",
  Information Sciences 379 (modAL ``uncertainty_batch_sampling``).
"""

from __future__ import annotations

import numpy as np

from strategies._linalg import (
    chunk_rows,
    check_k,
    embeddings_2d,
    empty_selection,
    labeled_2d,
    min_sq_dist,
    spans,
    sq_dist_block,
    sq_dist_to,
    sq_norms,
)
from strategies.base import StrategyInputs
from strategies import registry
from strategies.registry import register

__all__ = ["kcenter_greedy", "ranked_batch"]

METRICS = ("euclidean", "cosine")
COLD_START_EXACT = 20_000
"""Pools up to this size get ranked batch's exact cold start (mean distance to all)."""
COLD_START_REFERENCE = 2_048
"""Larger pools estimate the mean distance against this many random reference rows."""


def _normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 copy."""
    norms = np.sqrt(sq_norms(x))
    return x / np.where(norms > 0, norms, 1.0)[:, None]


def _prepare(inputs: StrategyInputs, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Pool and labeled embeddings as float32, unit-normalised for the cosine metric."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x = embeddings_2d(inputs.n, inputs.embeddings)
    lab = labeled_2d(inputs.labeled_embeddings, x.shape[1])
    if metric == "cosine":
        x, lab = _normalize(x), _normalize(lab)
    return x, lab


def _argmax_ties(values: np.ndarray, rng: np.random.Generator) -> int:
    """argmax with exact ties broken by ``rng`` (one extra pass only when tied)."""
    best = int(np.argmax(values))
    tied = np.flatnonzero(values == values[best])
    return best if tied.size == 1 else int(tied[rng.integers(tied.size)])


@register(
    "kcenter_greedy",
    kind="batch",
    needs={"embeddings"},
    params={"metric": "euclidean"},
)
def kcenter_greedy(
    inputs: StrategyInputs, k: int, *, rng: np.random.Generator, metric: str = "euclidean"
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center (core-set): each pick is the candidate farthest from every center.

    Centers start as the labeled embeddings; with none (cold start) the first pick is
    uniform at random, as in scikit-activeml. ``metric="cosine"`` normalises rows
    first (same order as cosine distance, as small-text's ``GreedyCoreset``).

    Parameters
    ----------
    inputs : embeddings (n, d); labeled_embeddings (m, d), may be empty
    k : batch size
    metric : "euclidean" or "cosine"

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, distance to the nearest center when picked
    """
    k = check_k(k)
    x, lab = _prepare(inputs, metric)
    n = x.shape[0]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    xx = sq_norms(x)
    if lab.shape[0]:
        d2, _ = min_sq_dist(x, lab, xx)
        first = _argmax_ties(d2, rng)
    else:
        d2 = np.full(n, np.inf, dtype=np.float32)
        first = int(rng.integers(n))
    chosen = np.empty(k, dtype=np.int64)
    scores = np.empty(k, dtype=np.float64)
    new = np.empty(n, dtype=np.float32)
    pick = first
    for t in range(k):
        chosen[t], scores[t] = pick, d2[pick]
        np.minimum(d2, sq_dist_to(x, xx, x[pick], new), out=d2)
        d2[pick] = -1.0  # never again
        if t + 1 < k:
            pick = _argmax_ties(d2, rng)
    if not np.isfinite(scores[0]):
        scores[0] = float(d2.max())  # cold start: the farthest point from the first pick
    return chosen, np.sqrt(np.maximum(scores, 0.0))


def _dist_from_sq(d2: np.ndarray, metric: str) -> np.ndarray:
    """Distance from squared euclidean (of normalised rows for cosine: 1 - cos = d2 / 2)."""
    return np.sqrt(d2) if metric == "euclidean" else d2 * np.float32(0.5)


def _cold_start(x: np.ndarray, xx: np.ndarray, metric: str, rng: np.random.Generator) -> int:
    """Candidate with the least mean distance to the pool (modAL's cold start).

    Exact for pools up to COLD_START_EXACT rows; larger pools average over
    COLD_START_REFERENCE reference rows drawn by ``rng`` (an unbiased estimate).
    """
    n = x.shape[0]
    ref = np.arange(n) if n <= COLD_START_EXACT else rng.choice(n, COLD_START_REFERENCE, False)
    y, yy = x[ref], xx[ref]
    means = np.empty(n, dtype=np.float64)
    for a, b in spans(n, chunk_rows(len(ref))):
        d2 = sq_dist_block(x[a:b], xx[a:b], y, yy)
        if ref.size == n:  # exact: self-distance is 0, not float32 rounding noise
            d2[np.arange(b - a), np.arange(a, b)] = 0.0
        block = _dist_from_sq(d2, metric)
        means[a:b] = block.mean(axis=1)
    return int(np.argmin(means))


@register(
    "ranked_batch",
    kind="batch",
    needs={"probs", "embeddings"},
    params={"uncertainty": "least_confidence", "metric": "euclidean"},
)
def ranked_batch(
    inputs: StrategyInputs,
    k: int,
    *,
    rng: np.random.Generator,
    uncertainty: str = "least_confidence",
    metric: str = "euclidean",
) -> tuple[np.ndarray, np.ndarray]:
    """Ranked batch mode (Cardoso et al., 2017): uncertainty balanced against dissimilarity.

    Pick t scores ``alpha * (1 - 1 / (1 + dist)) + (1 - alpha) * u`` where ``dist`` is
    the distance to the nearest labeled item or earlier pick, ``u`` the uncertainty
    (modAL: least confidence) and ``alpha = |U| / (|U| + |D|)`` as in modAL. With no
    labeled items the first pick is the candidate of least mean distance to the pool
    (exact up to COLD_START_EXACT rows, then estimated on a random reference sample);
    unlike modAL it is never picked twice.

    Returns
    -------
    indices : (min(k, n),) int64, best first
    scores : (min(k, n),) float64, the combined score when picked
    """
    k = check_k(k)
    x, lab = _prepare(inputs, metric)
    n = x.shape[0]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    u = registry.score(uncertainty, inputs, rng=rng).astype(np.float32)
    xx = sq_norms(x)
    chosen: list[int] = []
    scores: list[float] = []
    if lab.shape[0]:
        d2, _ = min_sq_dist(x, lab, xx)
        m = lab.shape[0]
    else:
        first = _cold_start(x, xx, metric, rng)
        chosen.append(first)
        scores.append(float(u[first]))
        d2 = sq_dist_to(x, xx, x[first], np.empty(n, dtype=np.float32))
        m = 1
    dist = _dist_from_sq(d2, metric)
    g = dist / (1.0 + dist)  # 1 - similarity, similarity = 1 / (1 + dist)
    _ranked_loop(x, xx, u, g, m, k, chosen, scores, metric, rng)
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def _ranked_loop(
    x: np.ndarray,
    xx: np.ndarray,
    u: np.ndarray,
    g: np.ndarray,
    m: int,
    k: int,
    chosen: list[int],
    scores: list[float],
    metric: str,
    rng: np.random.Generator,
) -> None:
    """Greedy picks of ranked batch, appending to ``chosen`` and ``scores`` in place."""
    n = x.shape[0]
    score = np.empty(n, dtype=np.float32)
    tmp = np.empty(n, dtype=np.float32)
    t = 0
    while len(chosen) < k:
        alpha = np.float32((n - t) / (n - t + m + t))
        np.multiply(g, alpha, out=score)
        np.multiply(u, np.float32(1.0) - alpha, out=tmp)
        score += tmp
        score[chosen] = -np.inf
        pick = _argmax_ties(score, rng)
        chosen.append(pick)
        scores.append(float(score[pick]))
        dist = _dist_from_sq(sq_dist_to(x, xx, x[pick], tmp), metric)
        np.minimum(g, dist / (np.float32(1.0) + dist), out=g)
        t += 1
