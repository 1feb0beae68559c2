"""Query strategies: pure, vectorized functions over model outputs, plus a registry.

A strategy never calls a model, reads a file or touches global state. It sees arrays
(probabilities, embeddings, sampled probabilities, costs) and an injected random
generator, and returns the chosen pool indices with their scores.
"""

from alloop.strategies.base import SeededGenerator, StrategyInputs, select_top_k
from alloop.strategies.registry import Strategy, get, names, needs, rank, register

__all__ = ["SeededGenerator", "Strategy", "StrategyInputs", "get", "names", "needs", "rank", "register", "select_top_k"]
