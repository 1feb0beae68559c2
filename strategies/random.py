"""Random sampling: the baseline every other strategy must beat."""

from __future__ import annotations

import numpy as np

from alloop.strategies.base import StrategyInputs
from alloop.strategies.registry import register


@register("random", needs=set())
def random_scores(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Uniform random scores: a random batch (passive learning baseline)."""
    return rng.random(inputs.n)
