"""Exact keys and near-duplicate pairs: the arithmetic of duplicate grouping, no store.

An item's exact key hashes its normalized text (text input: case-folded, whitespace collapsed)
or the bytes of its float32 vector. Near duplicates are pairs whose cosine similarity reaches a
threshold, found by blocked matrix products over the project's feature matrix: a block of
``QUERY_BLOCK`` query rows against ``BASE_BLOCK`` base rows at a time, so memory stays bounded
(about 32 MiB of similarities) whatever the pool's size. Measured against a vector index
library: not done; blocked numpy is what this uses.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import numpy as np

__all__ = ["QUERY_BLOCK", "BASE_BLOCK", "normalize_text", "text_key", "vector_key", "near_pairs", "spanning"]

QUERY_BLOCK = 1024
BASE_BLOCK = 8192
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """What two texts must share to be exact duplicates: case-folded, whitespace collapsed, stripped."""
    return _SPACE.sub(" ", text.casefold()).strip()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def text_key(text: str) -> str:
    """The exact key of a text item."""
    return "t" + _digest(normalize_text(text).encode("utf-8"))


def vector_key(vector: np.ndarray) -> str:
    """The exact key of a vector item: its float32 bytes (``-0.0`` counts as ``0.0``)."""
    data = np.ascontiguousarray(vector, dtype=np.float32) + np.float32(0.0)
    return "v" + _digest(data.tobytes())


def _unit(block: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (all-zero rows stay zero: they match nothing)."""
    block = np.asarray(block, dtype=np.float32)
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    return np.divide(block, norms, out=np.zeros_like(block), where=norms > 0)


def near_pairs(
    matrix: np.ndarray, query_rows: np.ndarray, base_rows: np.ndarray, threshold: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pairs of rows of ``matrix`` whose cosine similarity is at least ``threshold``.

    Parameters
    ----------
    matrix : (rows, dim) float32, usually the memory-mapped feature file
    query_rows : (q,) int, the rows to look up (new items)
    base_rows : (b,) int, the rows to compare them with (may include ``query_rows``)
    threshold : float in (0, 1]

    Yields
    ------
    (a, b, similarity) arrays per block: ``a`` from ``query_rows``, ``b`` from ``base_rows``,
    never a row with itself, and a pair of two query rows once (``a < b``).
    """
    query_rows = np.asarray(query_rows, dtype=np.int64)
    base_rows = np.asarray(base_rows, dtype=np.int64)
    if not len(query_rows) or not len(base_rows):
        return
    in_query = np.isin(base_rows, query_rows)
    for q0 in range(0, len(query_rows), QUERY_BLOCK):
        q_rows = query_rows[q0:q0 + QUERY_BLOCK]
        q = _unit(matrix[np.sort(q_rows)])
        q_rows = np.sort(q_rows)
        for b0 in range(0, len(base_rows), BASE_BLOCK):
            b_rows = base_rows[b0:b0 + BASE_BLOCK]
            order = np.argsort(b_rows)
            b_sorted = b_rows[order]
            sims = q @ _unit(matrix[b_sorted]).T
            a_at, b_at = np.nonzero(sims >= np.float32(threshold))
            if not len(a_at):
                continue
            a, b = q_rows[a_at], b_sorted[b_at]
            both = in_query[b0:b0 + BASE_BLOCK][order][b_at]
            keep = (a != b) & (~both | (a < b))
            if keep.any():
                yield a[keep], b[keep], sims[a_at[keep], b_at[keep]]


def spanning(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fewer links, the same groups: each linked node tied to its connected component's smallest node.

    Near duplicates chain (on raw pixels at cosine 0.95 most of a digit class is one component),
    and a dense neighbourhood has quadratically many pairs; this keeps at most one link per node.
    """
    from scipy.sparse import coo_matrix  # scipy only where links are reduced, not at server start
    from scipy.sparse.csgraph import connected_components

    if not len(a):
        return a, b
    nodes, local = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (local[:len(a)], local[len(a):])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    first = np.full(component.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, component, np.arange(n))
    root = first[component]
    keep = root != np.arange(n)
    return nodes[keep], nodes[root[keep]]
