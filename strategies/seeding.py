"""k-means++ seeding as batch selection: BADGE and k-means++ over embeddings.

Both pick each next item with probability proportional to D^2, its squared distance
to the nearest item picked so far (Arthur & Vassilvitskii, 2007, "k-means++: the
advantages of careful seeding"), updating D^2 incrementally after each pick.

BADGE (Ash et al., 2020, "Deep Batch Active Learning by Diverse, Uncertain Gradient
Lower Bounds"; scikit-activeml ``Badge``) runs it on gradient embeddings
``g_i = (p_i - onehot(argmax p_i)) (x) x_i`` of size C*d. Those are never built:
``<g_i, g_j> = <a_i, a_j> <x_i, x_j>`` with ``a = p - onehot``, so one pick costs a
product with the (n, C) and the (n, d) matrices instead of an (n, C*d) one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from strategies._linalg import (
    as_f32,
    check_k,
    embeddings_2d,
    empty_selection,
    labeled_2d,
    min_sq_dist,
    probs_2d,
    sq_dist_to,
    sq_norms,
)
from strategies.base import StrategyInputs
from strategies.registry import register

__all__ = ["BadgeSpace", "badge", "kmeans_pp"]

DistTo = Callable[[int, np.ndarray], np.ndarray]


class BadgeSpace:
    """Squared distances between BADGE gradient embeddings, computed implicitly.

    Parameters
    ----------
    probs : (n, C) class probabilities
    x : (n, d) float32 embeddings
    """

    def __init__(self, probs: np.ndarray, x: np.ndarray) -> None:
        p = as_f32(probs, "probs")
        if p.shape[0] != x.shape[0]:
            raise ValueError(f"probs has {p.shape[0]} rows, embeddings {x.shape[0]}")
        a = p.copy()
        a[np.arange(a.shape[0]), p.argmax(axis=1)] -= 1.0
        self.a, self.x = a, x
        self.norms2 = sq_norms(a) * sq_norms(x)  # ||g_i||^2
        self._tmp = np.empty(x.shape[0], dtype=np.float32)

    def dist2_to(self, i: int, out: np.ndarray) -> np.ndarray:
        """Squared distances (n,) from every gradient embedding to that of item ``i``."""
        np.dot(self.a, self.a[i], out=out)
        np.dot(self.x, self.x[i], out=self._tmp)
        out *= self._tmp
        out *= -2.0
        out += self.norms2
        out += self.norms2[i]
        np.maximum(out, 0.0, out=out)
        return out


def _sample_d2(d2: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an index with probability d2 / sum(d2); uniform over unpicked when all are 0."""
    cum = np.cumsum(d2, dtype=np.float64)
    total = cum[-1]
    if not total > 0:
        free = np.flatnonzero(~chosen)
        return int(free[rng.integers(free.size)])
    pick = int(np.searchsorted(cum, rng.random() * total, side="right"))
    pick = min(pick, d2.size - 1)
    while d2[pick] <= 0:  # guard against landing on a zero-width bucket by rounding
        pick -= 1
    return pick


def _d2_loop(
    d2: np.ndarray, first: int | None, k: int, dist_to: DistTo, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ picks from initial D^2 ``d2`` (updated in place); ``first`` forces pick 0."""
    n = d2.size
    chosen = np.zeros(n, dtype=bool)
    picks = np.empty(k, dtype=np.int64)
    scores = np.empty(k, dtype=np.float64)
    new = np.empty(n, dtype=np.float32)
    for t in range(k):
        pick = first if (t == 0 and first is not None) else _sample_d2(d2, chosen, rng)
        picks[t], scores[t] = pick, np.sqrt(max(float(d2[pick]), 0.0))
        chosen[pick] = True
        np.minimum(d2, dist_to(pick, new), out=d2)
        d2[pick] = 0.0
    return picks, scores


@register("badge", kind="batch", needs={"probs", "embeddings"})
def badge(
    inputs: StrategyInputs, k: int, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """BADGE: k-means++ seeding on gradient embeddings (Ash et al., 2020).

    The first pick is the largest gradient norm, as in scikit-activeml; the rest are
    drawn with probability proportional to D^2 (uniform when every D^2 is 0).

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, the pick's gradient distance to earlier picks
    """
    k = check_k(k)
    probs = probs_2d(inputs.probs)
    space = BadgeSpace(probs, embeddings_2d(probs.shape[0], inputs.embeddings))
    k = min(k, probs.shape[0])
    if k == 0:
        return empty_selection()
    d2 = space.norms2.copy()
    first = int(np.argmax(d2)) if d2.max() > 0 else None
    return _d2_loop(d2, first, k, space.dist2_to, rng)


@register("kmeans_pp", kind="batch", needs={"embeddings"})
def kmeans_pp(
    inputs: StrategyInputs, k: int, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding over the embeddings (Arthur & Vassilvitskii, 2007).

    Labeled embeddings count as centers already placed; with none the first pick is
    uniform at random.

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, the pick's distance to the nearest earlier center
    """
    k = check_k(k)
    x = embeddings_2d(inputs.n, inputs.embeddings)
    lab = labeled_2d(inputs.labeled_embeddings, x.shape[1])
    n = x.shape[0]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    xx = sq_norms(x)
    if lab.shape[0]:
        d2, first = min_sq_dist(x, lab, xx)[0], None
    else:
        d2, first = np.full(n, np.inf, dtype=np.float32), int(rng.integers(n))

    def dist_to(i: int, out: np.ndarray) -> np.ndarray:
        return sq_dist_to(x, xx, x[i], out)

    picks, scores = _d2_loop(d2, first, k, dist_to, rng)
    scores[~np.isfinite(scores)] = 0.0
    return picks, scores
