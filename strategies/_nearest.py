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
length inside each block, never copied) and ``strategies.seeding.BadgeSpace``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from strategies._linalg import spans, sq_norms

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

    def center(self, i: int) -> Any:
        """Whatever :meth:`block_sq` needs about pool row ``i`` (computed once per pick)."""

    def block_sq(self, a: int, b: int, center: Any, out: np.ndarray) -> np.ndarray:
        """Squared distances (b - a,) float32 from rows ``a:b`` to ``center``, into ``out``."""


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
        """Recompute block ``j``'s statistic (``"max"`` or ``"sum"``) of ``values``."""
        a, b = self.spans[j]
        self.stat[j] = values[a:b].max() if kind == "max" else values[a:b].sum(dtype=np.float64)


class NearestCenters:
    """D^2 (n,) float32 to the nearest center, with block statistics for picking.

    Parameters
    ----------
    space : the distance space of the pool
    d2 : (n,) float32 initial squared distances (``inf`` with no center yet); kept, not copied
    kind : ``"max"`` (k-center) or ``"sum"`` (D^2 sampling) block statistic
    """

    def __init__(self, space: Space, d2: np.ndarray, kind: str) -> None:
        self.space, self.d2, self.kind = space, d2, kind
        self.blocks = Blocks(space.n, block_rows(space.cols))
        self._buf = np.empty(self.blocks.rows, dtype=np.float32)
        for j in range(len(self.blocks.spans)):
            self.blocks.refresh(d2, j, kind)

    def add(self, i: int, mark: float) -> None:
        """Make pool row ``i`` a center: refresh every D^2, then set ``d2[i] = mark``."""
        center = self.space.center(i)
        d2, stat, is_max = self.d2, self.blocks.stat, self.kind == "max"
        for j, (a, b) in enumerate(self.blocks.spans):
            out = self.space.block_sq(a, b, center, self._buf[: b - a])
            view = d2[a:b]
            np.minimum(view, out, out=view)
            stat[j] = view.max() if is_max else view.sum(dtype=np.float64)
        d2[i] = mark
        self.blocks.refresh(d2, self.blocks.block_of(i), self.kind)
