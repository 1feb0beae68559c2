"""Distance-based batch selection: k-center greedy (core-set) and ranked batch mode.

Both keep, for every candidate, its distance to the nearest "center" (labeled items
and the picks so far) and update it incrementally: after each pick one matrix-vector
product ``X @ c`` (BLAS, float32) refreshes every distance, so a batch of k costs
O(k n d) time and O(n) extra memory, never an (n, n) matrix. The refresh runs in
cache-sized row blocks (:mod:`alloop.strategies._nearest`); the cosine metric scales rows to
unit length inside each block instead of copying the embeddings.

- k-center greedy: Sener & Savarese (2018), "Active Learning for Convolutional
  Neural Networks: A Core-Set Approach" (scikit-activeml ``CoreSet``, small-text
  ``GreedyCoreset``).
- ranked batch mode: Cardoso et al. (2017), "Ranked batch-mode active learning",
  Information Sciences 379 (modAL ``uncertainty_batch_sampling``).
"""

from __future__ import annotations

import numpy as np

from alloop.strategies import registry
from alloop.strategies._linalg import (
    check_k,
    chunk_rows,
    embeddings_2d,
    empty_selection,
    labeled_2d,
    min_sq_dist,
    spans,
    sq_dist_block,
)
from alloop.strategies._nearest import Blocks, EuclideanSpace, NearestCenters, block_rows
from alloop.strategies.base import StrategyInputs
from alloop.strategies.registry import register

__all__ = ["kcenter_greedy", "ranked_batch"]

METRICS = ("euclidean", "cosine")
COLD_START_EXACT = 20_000
"""Pools up to this size get ranked batch's exact cold start (mean distance to all)."""
COLD_START_REFERENCE = 2_048
"""Larger pools estimate the mean distance against this many random reference rows."""


def _prepare(inputs: StrategyInputs, metric: str) -> tuple[EuclideanSpace, np.ndarray]:
    """The pool's distance space and the labeled embeddings (unit rows for cosine)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x = embeddings_2d(inputs.n, inputs.embeddings)
    lab = labeled_2d(inputs.labeled_embeddings, x.shape[1])
    space = EuclideanSpace(x, unit=metric == "cosine")
    if metric == "cosine" and lab.shape[0]:
        lab = EuclideanSpace(lab, unit=True).rows(0, lab.shape[0])
    return space, lab


def _labeled_d2(space: EuclideanSpace, lab: np.ndarray) -> np.ndarray:
    """Squared distance (n,) float32 from every pool row to its nearest labeled row."""
    return min_sq_dist(space.x, lab, space.xx, scale=space.scale)


def _labeled_centers(space: EuclideanSpace, lab: np.ndarray, kind: str) -> NearestCenters:
    """D^2 to the nearest labeled row, each row owned by it (for pruning)."""
    d2, owner = min_sq_dist(space.x, lab, space.xx, scale=space.scale, return_arg=True)
    return NearestCenters(space, d2, kind, owner=owner, fixed=lab)


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
    space, lab = _prepare(inputs, metric)
    k = min(k, space.n)
    if k == 0:
        return empty_selection()
    if lab.shape[0]:
        near = _labeled_centers(space, lab, "max")
        pick = near.blocks.argmax(near.d2, rng)
    else:
        near = NearestCenters(space, np.full(space.n, np.inf, dtype=np.float32), "max")
        pick = int(rng.integers(space.n))
    chosen = np.empty(k, dtype=np.int64)
    scores = np.empty(k, dtype=np.float64)
    for t in range(k):
        chosen[t], scores[t] = pick, near.d2[pick]
        near.add(pick, mark=-np.inf)  # never again
        if t + 1 < k:
            pick = near.blocks.argmax(near.d2, rng)
    if not np.isfinite(scores[0]):
        scores[0] = float(near.d2.max())  # cold start: the farthest point from the first pick
    return chosen, np.sqrt(np.maximum(scores, 0.0))


def _dist_from_sq(d2: np.ndarray, metric: str) -> np.ndarray:
    """Distance from squared euclidean (of normalised rows for cosine: 1 - cos = d2 / 2)."""
    return np.sqrt(d2) if metric == "euclidean" else d2 * np.float32(0.5)


def _cold_start(space: EuclideanSpace, metric: str, rng: np.random.Generator) -> int:
    """Candidate with the least mean distance to the pool (modAL's cold start).

    Exact for pools up to COLD_START_EXACT rows; larger pools average over
    COLD_START_REFERENCE reference rows drawn by ``rng`` (an unbiased estimate).
    """
    n = space.n
    ref = np.arange(n) if n <= COLD_START_EXACT else rng.choice(n, COLD_START_REFERENCE, False)
    y = space.x[ref] if space.scale is None else space.x[ref] * space.scale[ref, None]
    yy = space.xx[ref]
    means = np.empty(n, dtype=np.float64)
    for a, b in spans(n, chunk_rows(len(ref))):
        d2 = sq_dist_block(space.rows(a, b), space.xx[a:b], y, yy)
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
    space, lab = _prepare(inputs, metric)
    k = min(k, space.n)
    if k == 0:
        return empty_selection()
    u = registry.score(uncertainty, inputs, rng=rng).astype(np.float32)  # a copy: picks get -inf
    chosen: list[int] = []
    scores: list[float] = []
    fold = _folder(metric)
    if lab.shape[0]:
        d2, owner = min_sq_dist(space.x, lab, space.xx, scale=space.scale, return_arg=True)
        dist = _dist_from_sq(d2, metric)
        g = dist / (1.0 + dist)  # 1 - similarity, similarity = 1 / (1 + dist)
        near = NearestCenters(space, d2, "none", owner, lab, lambda rows, new: fold(g, rows, new))
        m, last = lab.shape[0], None
    else:
        first = _cold_start(space, metric, rng)
        chosen.append(first)
        scores.append(float(u[first]))
        u[first] = -np.inf
        g = np.ones(space.n, dtype=np.float32)  # the limit of dist / (1 + dist): no center yet
        d2 = np.full(space.n, np.inf, dtype=np.float32)
        near = NearestCenters(space, d2, "none", on_rows=lambda rows, new: fold(g, rows, new))
        m, last = 1, first
    _ranked_loop(near, u, g, m, k, chosen, scores, last, rng)
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def _folder(metric: str):  # type: ignore[no-untyped-def]
    """``fold(g, rows, new_d2)``: ``g[rows] = min(g[rows], dist / (1 + dist))``, float32."""

    def fold(g: np.ndarray, rows: object, new_d2: np.ndarray) -> None:
        dist = np.sqrt(new_d2) if metric == "euclidean" else new_d2 * np.float32(0.5)
        dist /= dist + np.float32(1.0)
        if isinstance(rows, slice):
            np.minimum(g[rows], dist, out=g[rows])
        else:
            g[rows] = np.minimum(g[rows], dist)

    return fold


def _ranked_loop(
    near: NearestCenters,
    u: np.ndarray,
    g: np.ndarray,
    m: int,
    k: int,
    chosen: list[int],
    scores: list[float],
    last: int | None,
    rng: np.random.Generator,
) -> None:
    """Greedy picks of ranked batch, appending to ``chosen`` and ``scores`` in place.

    Each pick: fold the last pick into ``g`` (1 - similarity to the nearest center;
    ``near`` recomputes only the rows the pick can bring closer), then score every
    row block by block. Picked rows have ``u = -inf``.
    """
    n = near.space.n
    blocks = Blocks(n, block_rows(near.space.cols))
    score = np.empty(n, dtype=np.float32)
    tmp = np.empty(blocks.rows, dtype=np.float32)
    t = 0
    while len(chosen) < k:
        alpha = np.float32((n - t) / (n - t + m + t))
        if last is not None:
            near.add(last, mark=0.0)
        for j, (a, b) in enumerate(blocks.spans):
            sv, tv = score[a:b], tmp[: b - a]
            np.multiply(g[a:b], alpha, out=sv)
            np.multiply(u[a:b], np.float32(1.0) - alpha, out=tv)
            sv += tv
            blocks.stat[j] = sv.max()
        last = blocks.argmax(score, rng)
        chosen.append(last)
        scores.append(float(score[last]))
        u[last] = -np.inf
        t += 1
