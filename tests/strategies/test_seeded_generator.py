"""A round's seeded generator: made only when a strategy draws, and then the seed's own stream."""

from __future__ import annotations

import numpy as np

from alloop.strategies import SeededGenerator, StrategyInputs, rank, register
from alloop.strategies.registry import unregister


def inputs(probs):
    return StrategyInputs(probs=np.asarray(probs, dtype=np.float64))


def test_draws_are_those_of_default_rng_with_the_same_seed():
    lazy, plain = SeededGenerator([7, 3]), np.random.default_rng([7, 3])
    assert lazy.random(4).tolist() == plain.random(4).tolist()
    assert lazy.choice(10, 3, replace=False).tolist() == plain.choice(10, 3, replace=False).tolist()
    assert lazy.integers(100) == plain.integers(100)


def test_a_ranking_without_ties_never_seeds_and_one_with_ties_draws_as_before():
    untied = [[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]]
    lazy = SeededGenerator([1, 2])
    assert rank("margin", inputs(untied), 1, rng=lazy)[0].tolist() == [1]
    assert lazy._rng is None  # nothing drawn, nothing seeded
    tied = [[0.5, 0.5]] * 6
    for k in (1, 3, 6):
        picked = rank("margin", inputs(tied), k, rng=SeededGenerator([1, 2]))[0]
        assert picked.tolist() == rank("margin", inputs(tied), k, rng=np.random.default_rng([1, 2]))[0].tolist()


def test_a_plugin_strategy_gets_the_numpy_generator_itself():
    seen = []

    def plugin(inputs, *, rng):
        seen.append(rng)
        return rng.random(inputs.n)

    register("plugin_rng_check")(plugin)
    try:
        chosen, _ = rank("plugin_rng_check", inputs([[0.5, 0.5]] * 5), 2, rng=SeededGenerator([4]))
    finally:
        unregister("plugin_rng_check")
    assert isinstance(seen[0], np.random.Generator)
    expected = np.argsort(-np.random.default_rng([4]).random(5), kind="stable")[:2]
    assert chosen.tolist() == expected.tolist()
