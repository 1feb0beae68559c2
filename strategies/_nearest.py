"""Distances to the nearest center, refreshed one center at a time in cache-sized blocks.

Greedy batch strategies (k-center, k-means++ seeding, BADGE, ranked batch) keep, for
every candidate, the squared distance D^2 to its nearest center and refresh it after
each pick. A refresh reads the whole ``(n, d)`` embedding matrix once (a BLAS
matrix-vector product); it is done block by block, ``BLOCK_BYTES`` of embeddings at a
time, so the product, the running minimum and a per-block statistic (max or sum) of
one block are computed while that block is in cache, instead of six passes over
n-long arrays in main memory. Picking by max (with ties) or by sampling in proportion
to D^2 reads the per-block statistics first and then one block, never the whole pool.

A *space* gives squared distances from a block of pool rows to one pool row:
:class:`EuclideanSpace` (euclidean, or cosine on the fly: rows are scaled to unit
length inside each block, never copied) and ``alloop.strategies.seeding.BadgeSpace``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from alloop.strategies._linalg import spans, sq_norms

__all__ = ["Blocks", "EuclideanSpace", "NearestCenters", "Space", "block_rows"]

BLOCK_ROWS = 16_384
"""Rows per block: the block's float32 temporaries (64 KiB each) stay in L2 cache while
its embedding rows stream through once."""


def block_rows(cols: int) -> int:
    """Rows per block (the same for every width: the embedding rows are read once)."""
    return BLOCK_ROWS


class Space(Protocol):
    """Squared distances between pool rows, one block of rows against one row at a time."""

    n: int
    cols: int
    radius2: float  # the largest squared norm in the space (sets the rounding tolerance)

    def center(self, i: int) -> Any:
        """Whatever :meth:`block_sq` needs about pool row ``i`` (computed once per pick)."""

    def block_sq(self, a: int, b: int, center: Any, out: np.ndarray) -> np.ndarray:
        """Squared distances (b - a,) float32 from rows ``a:b`` to ``center``, into ``out``."""

    def rows_sq(self, rows: np.ndarray, center: Any) -> np.ndarray:
        """Squared distances (len(rows),) float32 from pool rows ``rows`` to ``center``."""


class EuclideanSpace:
    """Squared euclidean distances between rows of ``x``, or between unit rows (cosine).

    Parameters
    ----------
    x : (n, d) float32
    unit : scale rows to unit length first (zero rows stay zero); computed per block
    """

    def __init__(self, x: np.ndarray, unit: bool = False) -> None:
        self.x, self.n, self.cols = x, x.shape[0], x.shape[1]
        xx = sq_norms(x)
        self.scale: np.ndarray | None = None
        if unit:
            norms = np.sqrt(xx)
            self.scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0).astype(
                np.float32
            )
            xx = (norms > 0).astype(np.float32)
        self.xx = xx
        self.radius2 = float(xx.max()) if xx.size else 0.0

    def row(self, i: int) -> np.ndarray:
        """Pool row ``i`` as the space sees it (unit length for cosine), float32 copy."""
        return self.x[i] * self.scale[i] if self.scale is not None else self.x[i].copy()

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows ``a:b`` as the space sees them (a view, or a scaled copy for cosine)."""
        return self.x[a:b] * self.scale[a:b, None] if self.scale is not None else self.x[a:b]

    def center(self, i: int) -> tuple[np.ndarray, np.float32]:
        c = self.row(i)
        return c * np.float32(-2.0), np.float32(c @ c)

    def block_sq(self, a: int, b: int, center: Any, out: np.ndarray) -> np.ndarray:
        c2, cc = center
        np.dot(self.x[a:b], c2, out=out)
        if self.scale is not None:
            out *= self.scale[a:b]
        out += self.xx[a:b]
        out += cc
        np.maximum(out, 0.0, out=out)
        return out

    def rows_sq(self, rows: np.ndarray, center: Any) -> np.ndarray:
        c2, cc = center
        out = np.take(self.x, rows, axis=0) @ c2
        if self.scale is not None:
            out *= self.scale[rows]
        out += self.xx[rows]
        out += cc
        return np.maximum(out, 0.0, out=out)


class Blocks:
    """Row blocks over a pool of ``n`` with one statistic per block, for max and sampling."""

    def __init__(self, n: int, rows: int) -> None:
        self.spans = list(spans(n, rows))
        self.stat = np.zeros(len(self.spans), dtype=np.float64)
        self.rows = rows

    def block_of(self, i: int) -> int:
        """Index of the block holding row ``i``."""
        return i // self.rows

    def argmax(self, values: np.ndarray, rng: np.random.Generator) -> int:
        """Index of the largest of ``values`` (stat = block max); exact ties broken by ``rng``.

        Ties resolve as ``rng.integers`` over the tied indices in increasing order.
        """
        best = self.stat.max()
        tied = [
            a + np.flatnonzero(values[a:b] == best)
            for j, (a, b) in enumerate(self.spans)
            if self.stat[j] == best
        ]
        idx = np.concatenate(tied)
        return int(idx[0]) if idx.size == 1 else int(idx[rng.integers(idx.size)])

    def sample(self, values: np.ndarray, rng: np.random.Generator) -> int | None:
        """Index drawn with probability ``values / sum`` (stat = block sum); None when all are 0."""
        cum = np.cumsum(self.stat)
        total = cum[-1]
        if not total > 0:
            return None
        r = rng.random() * total
        j = min(int(np.searchsorted(cum, r, side="right")), cum.size - 1)
        while self.stat[j] <= 0:  # rounding at the top end: back to a block with mass
            j -= 1
        a, b = self.spans[j]
        local = np.cumsum(values[a:b], dtype=np.float64)
        pos = min(int(np.searchsorted(local, r - (cum[j] - self.stat[j]), side="right")), b - a - 1)
        while values[a + pos] <= 0:  # never land on a zero-width bucket by rounding
            pos -= 1
        return a + pos

    def refresh(self, values: np.ndarray, j: int, kind: str) -> None:
        """Recompute block ``j``'s statistic (``"max"``, ``"sum"``; ``"none"``: nothing)."""
        if kind == "none":
            return
        a, b = self.spans[j]
        self.stat[j] = values[a:b].max() if kind == "max" else values[a:b].sum(dtype=np.float64)


class NearestCenters:
    """D^2 (n,) float32 to the nearest center, with block statistics for picking.

    Each row also remembers its nearest center (its *owner*). A new center ``c``
    cannot bring row ``i`` closer when ``dist(owner_i, c) >= 2 dist(i, owner_i)``
    (triangle inequality), so only the other rows are recomputed, gathered, once
    fewer than PRUNE_SHARE of the pool remain (otherwise the blocked full pass, and
    the test is skipped for 1, 2, 4, ... 64 picks while it keeps failing). The test
    keeps a margin of TOLERANCE times the space's largest norm, far above float32
    rounding, so the result is the same as recomputing every row. Clustered pools
    gain the most. A space may bring its own test instead (``candidates``: BADGE's
    Cauchy-Schwarz bound).

    Parameters
    ----------
    space : the distance space of the pool
    d2 : (n,) float32 initial squared distances (``inf`` with no center yet); kept, not copied
    kind : ``"max"`` (k-center), ``"sum"`` (D^2 sampling) or ``"none"`` block statistic
    owner : (n,) int, index in ``fixed`` of each row's nearest fixed center, optional
    fixed : (m, d) float32 coordinates of the centers placed before (labeled rows), in
        the space's coordinates (unit rows for cosine); ``None`` for none
    on_rows : called as ``on_rows(rows, new_d2)`` with every row (a slice or indices)
        whose squared distance to a new center was computed, before the minimum
    """

    PRUNE_SHARE = 0.3
    TOLERANCE = 1e-2

    def __init__(
        self,
        space: Space,
        d2: np.ndarray,
        kind: str,
        owner: np.ndarray | None = None,
        fixed: np.ndarray | None = None,
        on_rows: Callable[[Any, np.ndarray], None] | None = None,
    ) -> None:
        self.space, self.d2, self.kind, self.on_rows = space, d2, kind, on_rows
        self.blocks = Blocks(space.n, block_rows(space.cols))
        self._buf = np.empty(self.blocks.rows, dtype=np.float32)
        for j in range(len(self.blocks.spans)):
            self.blocks.refresh(d2, j, kind)
        self.fixed = np.empty((0, space.cols), np.float32) if fixed is None else fixed
        self.owner = np.full(space.n, -1, np.int32) if owner is None else owner.astype(np.int32)
        self.picks: list[int] = []
        self._tol = self.TOLERANCE * np.sqrt(space.radius2)
        self._wait, self._backoff = 0, 1  # steps to skip the test after it failed to prune

    def add(self, i: int, mark: float) -> None:
        """Make pool row ``i`` a center: refresh every D^2, then set ``d2[i] = mark``."""
        center = self.space.center(i)
        t = self.fixed.shape[0] + len(self.picks)
        rows = self._candidates(i, center)
        if rows is None:
            self._full(center, t)
        else:
            self._some(rows, center, t)
        self.picks.append(i)
        self.d2[i] = mark
        self.owner[i] = t
        self.blocks.refresh(self.d2, self.blocks.block_of(i), self.kind)

    def _candidates(self, i: int, center: Any) -> np.ndarray | None:
        """Rows the new center may bring closer, or None when too many (full pass)."""
        if not self.picks and not self.fixed.shape[0]:
            return None
        if self._wait > 0:
            self._wait -= 1
            return None
        if hasattr(self.space, "candidates"):  # the space's own test (BADGE)
            return self._worth(self.space.candidates(center, self.d2))
        between = np.empty(self.fixed.shape[0] + len(self.picks), dtype=np.float32)
        if self.fixed.shape[0]:
            c = self.space.row(i)  # type: ignore[attr-defined]
            between[: self.fixed.shape[0]] = ((self.fixed - c) ** 2).sum(axis=1)
        if self.picks:
            between[self.fixed.shape[0] :] = self.space.rows_sq(np.asarray(self.picks), center)
        half = np.maximum(np.sqrt(between) - np.float32(self._tol), 0.0) / np.float32(2.0)
        bound = np.append(half * half, np.float32(-np.inf))  # owner -1: no bound
        return self._worth(np.flatnonzero(self.d2 >= bound[self.owner]))

    def _worth(self, rows: np.ndarray) -> np.ndarray | None:
        """``rows`` when few enough to gather, else None (and wait before testing again)."""
        if rows.size <= self.PRUNE_SHARE * self.space.n:
            self._backoff = 1
            return rows
        self._wait, self._backoff = self._backoff, min(2 * self._backoff, 64)
        return None

    def _some(self, rows: np.ndarray, center: Any, t: int) -> None:
        new = self.space.rows_sq(rows, center)
        if self.on_rows is not None:
            self.on_rows(rows, new)
        closer = new < self.d2[rows]
        rows = rows[closer]
        self.d2[rows] = new[closer]
        self.owner[rows] = t
        for j in np.unique(rows // self.blocks.rows):
            self.blocks.refresh(self.d2, int(j), self.kind)

    def _full(self, center: Any, t: int) -> None:
        d2, owner, stat, is_max = self.d2, self.owner, self.blocks.stat, self.kind == "max"
        for j, (a, b) in enumerate(self.blocks.spans):
            out = self.space.block_sq(a, b, center, self._buf[: b - a])
            if self.on_rows is not None:
                self.on_rows(slice(a, b), out)
            view = d2[a:b]
            owner[a:b][out < view] = t
            np.minimum(view, out, out=view)
            if self.kind != "none":
                stat[j] = view.max() if is_max else view.sum(dtype=np.float64)
