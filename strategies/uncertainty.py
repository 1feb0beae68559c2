"""Uncertainty sampling: least confidence, margin, entropy, ratio of confidences.

Lewis & Gale (1994), "A sequential algorithm for training text classifiers";
Scheffer et al. (2001) for margin; Shannon entropy as in Settles (2009),
"Active Learning Literature Survey", section 3.1. Each is computed chunk by chunk
so a 1M-row pool never needs more than one chunk of temporaries.
"""

from __future__ import annotations

import numpy as np

from strategies.base import StrategyInputs
from strategies.registry import register

CHUNK_ROWS = 65_536


def _chunked(probs: np.ndarray, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty(probs.shape[0], dtype=np.float64)
    for start in range(0, probs.shape[0], CHUNK_ROWS):
        out[start : start + CHUNK_ROWS] = fn(np.asarray(probs[start : start + CHUNK_ROWS]))
    return out


def _top_two(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if p.shape[1] == 1:
        return p[:, 0], np.zeros(p.shape[0], dtype=p.dtype)
    part = np.partition(p, p.shape[1] - 2, axis=1)
    return part[:, -1], part[:, -2]


@register("least_confidence")
def least_confidence(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """1 - max_c p(c|x): the model's doubt in its own top class (Lewis & Gale, 1994)."""
    return _chunked(inputs.probs, lambda p: 1.0 - p.max(axis=1))


@register("margin")
def margin(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """-(p1 - p2): a small gap between the two top classes is informative (Scheffer et al., 2001)."""

    def score(p: np.ndarray) -> np.ndarray:
        first, second = _top_two(p)
        return -(first - second)

    return _chunked(inputs.probs, score)


@register("entropy")
def entropy(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """-sum_c p log p: Shannon entropy of the predicted distribution (Settles, 2009)."""

    def score(p: np.ndarray) -> np.ndarray:
        p = p.astype(np.float64, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p), 0.0)
        return -terms.sum(axis=1)

    return _chunked(inputs.probs, score)


@register("ratio")
def ratio(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """p2 / p1: ratio of confidences, 1 when the top two classes tie."""

    def score(p: np.ndarray) -> np.ndarray:
        first, second = _top_two(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(first > 0, second / first, 1.0)

    return _chunked(inputs.probs, score)
