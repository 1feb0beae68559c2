"""Cost-aware selection: informativeness per unit of labeling cost, budgets in cost.

Settles et al. (2008), "Active Learning with Real Annotation Costs", and Haertel et
al. (2008), "Return on Investment for Active Learning": rank by utility / cost.
``per_cost`` wraps any pointwise strategy, so no strategy needs a cost-aware copy;
:func:`take_within_budget` and :func:`rank_within_budget` count the budget in cost
rather than in items.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alloop.strategies import registry
from alloop.strategies._linalg import nonnegative
from alloop.strategies.base import StrategyInputs

__all__ = ["costs_1d", "per_cost", "rank_within_budget", "take_within_budget"]


def costs_1d(costs: np.ndarray | None, n: int) -> np.ndarray:
    """Validated (n,) float64 costs: finite and > 0."""
    if costs is None:
        raise ValueError("cost-aware selection needs costs")
    c = np.asarray(costs, dtype=np.float64)
    if c.shape != (n,):
        raise ValueError(f"costs must have shape ({n},), got {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("costs must be finite and > 0")
    return c


@registry.register(
    "per_cost",
    needs={"costs"},
    params={"base": "entropy", "base_params": None, "power": 1.0},
    wraps=("base",),
)
def per_cost(
    inputs: StrategyInputs,
    *,
    rng: np.random.Generator,
    base: str = "entropy",
    base_params: dict[str, Any] | None = None,
    power: float = 1.0,
) -> np.ndarray:
    """Utility per unit of cost: ``u(x) / cost(x) ** power`` for pointwise strategy ``base``.

    ``u`` is shifted to be >= 0 when ``base`` returns negatives (margin). ``power=0``
    ignores cost; ``power=1`` is return on investment.

    Returns
    -------
    (n,) float64 scores.
    """
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    costs = costs_1d(inputs.costs, inputs.n)
    u = nonnegative(registry.score(base, inputs, rng=rng, params=base_params))
    return u / costs**power


def take_within_budget(
    indices: np.ndarray, costs: np.ndarray, budget: float
) -> np.ndarray:
    """The ranked ``indices`` that fit in ``budget``, in order, skipping ones too costly.

    Walks the ranking and keeps an item when its cost still fits in what is left
    (greedy knapsack by rank), so a costly item never blocks cheaper ones after it.

    Parameters
    ----------
    indices : (m,) int, a ranking (best first)
    costs : (n,) float, cost of every pool item
    budget : float, total cost allowed

    Returns
    -------
    (j,) int64, a subsequence of ``indices`` whose costs sum to at most ``budget``.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    idx = np.asarray(indices, dtype=np.int64)
    c = np.asarray(costs, dtype=np.float64)[idx]
    cum = np.cumsum(c)
    if cum.size == 0 or cum[-1] <= budget:
        return idx
    keep = np.zeros(idx.size, dtype=bool)
    left = float(budget)
    for i, cost in enumerate(c):  # only reached when the budget binds; O(m)
        if cost <= left:
            keep[i], left = True, left - cost
    return idx[keep]


def rank_within_budget(
    name: str,
    inputs: StrategyInputs,
    budget: float,
    *,
    rng: np.random.Generator,
    params: dict[str, Any] | None = None,
    max_items: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank with strategy ``name`` and keep what fits in a budget counted in cost.

    A batch of ``budget / min(cost)`` items (capped at ``max_items`` and the pool) is
    ranked, then :func:`take_within_budget` keeps the items that fit.

    Returns
    -------
    indices : (j,) int64, best first, total cost <= budget
    scores : (j,) float64
    """
    costs = costs_1d(inputs.costs, inputs.n)
    k = int(min(inputs.n, np.floor(budget / costs.min()) if budget > 0 else 0))
    if max_items is not None:
        k = min(k, max_items)
    indices, scores = registry.rank(name, inputs, k, rng=rng, params=params)
    kept = take_within_budget(indices, costs, budget)
    return kept, scores[np.isin(indices, kept)]
