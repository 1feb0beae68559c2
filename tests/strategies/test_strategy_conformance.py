"""Every registered strategy honours the same contract (run over the whole registry)."""

from __future__ import annotations

import numpy as np
import pytest

from alloop.strategies import StrategyInputs, get, names, rank
from strategy_data import make_inputs

ALL = names()


def _rank(name: str, inputs: StrategyInputs, k: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    return rank(name, inputs, k, rng=np.random.default_rng(seed))


def _check(indices: np.ndarray, scores: np.ndarray, n: int, k: int) -> None:
    assert indices.dtype == np.int64
    assert scores.dtype == np.float64
    assert indices.shape == scores.shape == (min(k, n),)
    assert np.unique(indices).size == indices.size, "duplicate picks"
    assert np.all((indices >= 0) & (indices < n))
    assert np.all(np.isfinite(scores)), "scores must be finite (they are served as JSON)"


def test_registry_is_not_empty_and_documented() -> None:
    expected = {
        "least_confidence", "margin", "entropy", "ratio", "vote_entropy",
        "consensus_entropy", "max_disagreement", "average_kl", "bald", "batchbald",
        "kcenter_greedy", "ranked_batch", "badge", "cluster_margin",
        "information_density", "typiclust", "probcover", "kmeans_pp", "random",
        "prefilter", "per_cost",
    }  # fmt: skip
    assert expected <= set(ALL)
    for name in ALL:
        assert get(name).summary, f"{name} has no docstring summary"


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("k", [1, 7, 25])
def test_shapes_and_no_duplicates(name: str, k: int) -> None:
    inputs = make_inputs(60)
    _check(*_rank(name, inputs, k), n=60, k=k)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_seed(name: str) -> None:
    inputs = make_inputs(80, seed=3)
    first, second = _rank(name, inputs, 10), _rank(name, inputs, 10)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("name", ALL)
def test_k_larger_than_pool_returns_every_item(name: str) -> None:
    indices, scores = _rank(name, make_inputs(12), 50)
    _check(indices, scores, n=12, k=50)
    assert sorted(indices.tolist()) == list(range(12))


@pytest.mark.parametrize("name", ALL)
def test_pool_of_one(name: str) -> None:
    indices, scores = _rank(name, make_inputs(1), 5)
    _check(indices, scores, n=1, k=5)
    assert indices.tolist() == [0]


@pytest.mark.parametrize("name", ALL)
def test_k_zero_selects_nothing(name: str) -> None:
    indices, scores = _rank(name, make_inputs(20), 0)
    _check(indices, scores, n=20, k=0)


@pytest.mark.parametrize("name", ALL)
def test_no_labeled_items_cold_start(name: str) -> None:
    inputs = make_inputs(40)
    cold = StrategyInputs(
        probs=inputs.probs,
        embeddings=inputs.embeddings,
        labeled_embeddings=np.empty((0, 6), dtype=np.float32),
        samples=inputs.samples,
        costs=inputs.costs,
        labeled_targets=np.empty((0, 4), dtype=np.int8),
        labeled_probs=np.empty((0, 4)),
    )
    _check(*_rank(name, cold, 8), n=40, k=8)


@pytest.mark.parametrize("name", ALL)
def test_negative_k_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="k must be"):
        _rank(name, make_inputs(10), -1)


@pytest.mark.parametrize("name", ALL)
def test_unknown_parameter_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="does not accept"):
        rank(name, make_inputs(10), 2, rng=np.random.default_rng(0), params={"nope": 1})


@pytest.mark.parametrize("name", [n for n in ALL if get(n).needs])
def test_missing_input_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="needs"):
        _rank(name, StrategyInputs(costs=np.ones(10)) if "costs" not in get(name).needs
              else StrategyInputs(probs=make_inputs(10).probs), 2)  # fmt: skip


@pytest.mark.parametrize("name", ALL)
def test_float32_inputs_work(name: str) -> None:
    inputs = make_inputs(30)
    f32 = StrategyInputs(
        probs=inputs.probs.astype(np.float32),
        embeddings=inputs.embeddings,
        labeled_embeddings=inputs.labeled_embeddings,
        samples=inputs.samples.astype(np.float32),
        costs=inputs.costs.astype(np.float32),
        labeled_targets=inputs.labeled_targets,
        labeled_probs=inputs.labeled_probs.astype(np.float32),
    )
    _check(*_rank(name, f32, 5), n=30, k=5)
