"""Shared numerics: validated float32 views, chunked squared distances via BLAS.

Every distance here uses the expansion ``||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2`` so
the heavy part is one matrix product (BLAS), computed in float32 and in row chunks
so temporaries stay near :data:`CHUNK_BYTES` whatever the pool size. Squared
distances are clipped at 0 (the expansion can go slightly negative by rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from functools import cache
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

CHUNK_BYTES = 32 * 1024 * 1024
"""Target size of one chunk of temporaries (bytes)."""


@cache
def _blas() -> Any:
    """The BLAS libraries loaded in this process (found once: discovery costs ~0.3 ms)."""
    return ThreadpoolController().select(user_api="blas")


def one_blas_thread() -> Any:
    """Context manager holding BLAS to one thread (about 10 us to enter and leave; 1 us when every
    BLAS already runs one thread, as in ``alloop simulate``'s workers).

    Strategies make many small BLAS calls (matrix-vector products over row chunks).
    On a 2-core machine two OpenBLAS threads made them 4-50x slower whenever another
    process held the other core (threads wait on each other), and they gain little
    when it is free: these calls are bound by memory bandwidth. The limit is
    process-wide while held.
    """
    blas = _blas()
    if all(lib.num_threads == 1 for lib in blas.lib_controllers):
        return nullcontext()
    return blas.limit(limits=1)


def chunk_rows(n_cols: int, itemsize: int = 4) -> int:
    """Rows per chunk so that a ``(rows, n_cols)`` temporary is about CHUNK_BYTES."""
    return max(256, CHUNK_BYTES // max(1, n_cols * itemsize))


def spans(n: int, rows: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` pairs covering ``range(n)`` in steps of ``rows``."""
    for start in range(0, n, rows):
        yield start, min(n, start + rows)


def as_f32(x: np.ndarray, name: str, ndim: int = 2) -> np.ndarray:
    """``x`` as a C-contiguous float32 array (no copy when it already is one).

    Raises
    ------
    ValueError
        If ``x`` does not have ``ndim`` dimensions or holds non-finite values.
    """
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def probs_2d(probs: np.ndarray | None) -> np.ndarray:
    """Validated ``(n, C)`` probability matrix (any float dtype kept)."""
    if probs is None:
        raise ValueError("this strategy needs probs")
    arr = np.asarray(probs)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"probs must have shape (n, C) with C >= 1, got {arr.shape}")
    return arr


def samples_3d(samples: np.ndarray | None) -> np.ndarray:
    """Validated ``(S, n, C)`` sampled probabilities."""
    if samples is None:
        raise ValueError("this strategy needs samples (S, n, C)")
    arr = np.asarray(samples)
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[2] < 1:
        raise ValueError(f"samples must have shape (S, n, C) with S, C >= 1, got {arr.shape}")
    return arr


def embeddings_2d(inputs_n: int, embeddings: np.ndarray | None) -> np.ndarray:
    """Validated float32 ``(n, d)`` embeddings aligned on the pool."""
    if embeddings is None:
        raise ValueError("this strategy needs embeddings")
    x = as_f32(embeddings, "embeddings")
    if x.shape[0] != inputs_n:
        raise ValueError(f"embeddings has {x.shape[0]} rows, the pool has {inputs_n}")
    return x


def labeled_2d(labeled: np.ndarray | None, d: int) -> np.ndarray:
    """Validated float32 ``(m, d)`` labeled embeddings; ``None`` gives ``(0, d)``."""
    if labeled is None:
        return np.empty((0, d), dtype=np.float32)
    y = np.asarray(labeled)
    if y.size == 0:
        return np.empty((0, d), dtype=np.float32)
    y = as_f32(y, "labeled_embeddings")
    if y.shape[1] != d:
        raise ValueError(f"labeled_embeddings has {y.shape[1]} columns, embeddings have {d}")
    return y


def sq_norms(x: np.ndarray) -> np.ndarray:
    """Row squared norms of float32 ``(n, d)`` ``x``: ``(n,)`` float32, chunked."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for a, b in spans(x.shape[0], chunk_rows(x.shape[1])):
        np.einsum("ij,ij->i", x[a:b], x[a:b], out=out[a:b])
    return out


def min_sq_dist(
    x: np.ndarray,
    y: np.ndarray,
    xx: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    return_arg: bool = False,
) -> Any:
    """Squared distance from every row of ``x`` to its nearest row of ``y``, chunked.

    Parameters
    ----------
    x : (n, d) float32
    y : (m, d) float32, m >= 1
    xx : (n,) float32, optional precomputed row squared norms of ``x`` (of the scaled
        rows when ``scale`` is given)
    scale : (n,) float32, optional: distances of the rows ``scale[i] * x[i]`` (cosine
        without a normalised copy of ``x``)
    return_arg : also return the index of the nearest row of ``y``

    Returns
    -------
    d2 : (n,) float32, clipped at 0
    arg : (n,) int64, only with ``return_arg``
    """
    xx = sq_norms(x) if xx is None else xx
    yy = sq_norms(y)
    d2 = np.full(x.shape[0], np.inf, dtype=np.float32)
    arg = np.zeros(x.shape[0], dtype=np.int64) if return_arg else None
    y_rows = min(y.shape[0], 1024)
    x_rows = max(256, (2 << 20) // (4 * y_rows))  # a (x_rows, y_rows) block of ~2 MiB
    for ya, yb in spans(y.shape[0], y_rows):
        yt = y[ya:yb].T * np.float32(-2.0)
        for xa, xb in spans(x.shape[0], x_rows):
            block = x[xa:xb] @ yt
            if scale is not None:
                block *= scale[xa:xb, None]
            block += yy[None, ya:yb]
            if arg is None:
                near = block.min(axis=1)
            else:
                best = block.argmin(axis=1)
                near = block[np.arange(xb - xa), best]
                arg[xa:xb] = np.where(near + xx[xa:xb] < d2[xa:xb], best + ya, arg[xa:xb])
            near += xx[xa:xb]
            np.minimum(d2[xa:xb], near, out=d2[xa:xb])
    np.maximum(d2, 0.0, out=d2)
    return (d2, arg) if return_arg else d2


def nearest_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index (n,) int64 of the nearest row of ``y`` (m, d) for every row of ``x`` (n, d).

    Float32, chunked so one ``(rows, m)`` block of distances is about 8 MiB.
    """
    x = as_f32(x, "x")
    y = as_f32(y, "y")
    yy = sq_norms(y)
    yt = y.T * np.float32(-2.0)
    out = np.empty(x.shape[0], dtype=np.int64)
    for a, b in spans(x.shape[0], max(256, (8 << 20) // (4 * y.shape[0]))):
        block = x[a:b] @ yt
        block += yy
        out[a:b] = block.argmin(axis=1)
    return out


def sq_dist_block(x: np.ndarray, xx: np.ndarray, y: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Full squared-distance block ``(len(x), len(y))`` float32, clipped at 0 (small inputs)."""
    block = x @ y.T
    block *= -2.0
    block += xx[:, None]
    block += yy[None, :]
    np.maximum(block, 0.0, out=block)
    return block


def check_k(k: int) -> int:
    """``k`` as an int, or ValueError when it is negative or not an integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return int(k)


def rand_argmax(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest value; exact ties broken by ``rng``. NaN never wins."""
    keys = np.where(np.isnan(values), -np.inf, values)
    best = keys.max()
    tied = np.flatnonzero(keys == best)
    if tied.size == 1:
        return int(tied[0])
    return int(tied[rng.integers(tied.size)])


def empty_selection() -> tuple[np.ndarray, np.ndarray]:
    """The ``(indices, scores)`` pair of an empty batch."""
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)


def nonnegative(scores: np.ndarray) -> np.ndarray:
    """Scores shifted so the smallest is 0 when any is negative (order kept), float64.

    Multiplying or dividing a score (density, cost) needs a non-negative utility;
    margin, for one, scores ``-(p1 - p2)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = s[np.isfinite(s)]
    if finite.size and finite.min() < 0:
        s = s - finite.min()
    return s
