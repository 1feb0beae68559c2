"""Small random model outputs shared by the strategy tests."""

from __future__ import annotations

import numpy as np

from alloop.strategies import StrategyInputs


def make_inputs(
    n: int = 60,
    *,
    d: int = 6,
    c: int = 4,
    s: int = 5,
    m: int = 3,
    seed: int = 0,
) -> StrategyInputs:
    """Random but valid inputs: softmax probs, gaussian embeddings, dirichlet samples; ``m`` labeled items
    with random label sets and per-label probabilities (what multi-label strategies read)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * 2.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    samples = rng.dirichlet(np.ones(c), size=(s, n))
    return StrategyInputs(
        probs=probs,
        embeddings=rng.normal(size=(n, d)).astype(np.float32),
        labeled_embeddings=rng.normal(size=(m, d)).astype(np.float32),
        samples=samples,
        costs=rng.uniform(0.5, 3.0, size=n),
        labeled_targets=rng.integers(0, 2, size=(m, c)).astype(np.int8),
        labeled_probs=rng.uniform(size=(m, c)),
    )
