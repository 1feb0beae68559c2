"""Properties (hypothesis) and reference checks of the strategy building blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from strategy_data import make_inputs

from alloop.strategies import StrategyInputs, get, rank, select_top_k
from alloop.strategies.cost import rank_within_budget, take_within_budget

FAST = settings(max_examples=60, deadline=None)


@st.composite
def prob_matrices(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 20))
    c = draw(st.integers(1, 6))
    raw = draw(arrays(np.float64, (n, c), elements=st.floats(0.0, 1.0)))
    raw = raw + 1e-9
    return raw / raw.sum(axis=1, keepdims=True)


POINTWISE_PROBS = ["entropy", "least_confidence", "margin", "ratio"]


@FAST
@given(probs=prob_matrices(), data=st.data())
@pytest.mark.parametrize("name", POINTWISE_PROBS)
def test_probability_scores_invariant_under_class_permutation(
    name: str, probs: np.ndarray, data: st.DataObject
) -> None:
    perm = data.draw(st.permutations(range(probs.shape[1])))
    fn = get(name).fn
    rng = np.random.default_rng(0)
    a = fn(StrategyInputs(probs=probs), rng=rng)
    b = fn(StrategyInputs(probs=probs[:, list(perm)]), rng=rng)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@FAST
@given(probs=prob_matrices(), data=st.data())
@pytest.mark.parametrize("name", ["consensus_entropy", "bald", "vote_entropy", "max_disagreement"])
def test_committee_scores_invariant_under_class_permutation(
    name: str, probs: np.ndarray, data: st.DataObject
) -> None:
    other = np.roll(probs, 1, axis=0)
    samples = np.stack([probs, other, probs[::-1]])
    perm = list(data.draw(st.permutations(range(probs.shape[1]))))
    fn, rng = get(name).fn, np.random.default_rng(0)
    a = fn(StrategyInputs(samples=samples), rng=rng)
    b = fn(StrategyInputs(samples=samples[:, :, perm]), rng=rng)
    if name == "vote_entropy" and samples.shape[2] > 1:  # argmax ties move with the classes
        top2 = np.sort(samples, axis=2)[:, :, -2:]
        tie_free = np.all(top2[:, :, 1] > top2[:, :, 0], axis=0)
        a, b = a[tie_free], b[tie_free]
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@FAST
@given(
    scores=arrays(np.float64, st.integers(0, 40), elements=st.floats(-5, 5, allow_nan=False)),
    k=st.integers(0, 50),
    seed=st.integers(0, 2**32 - 1),
)
def test_select_top_k_is_the_true_top_k_without_repeats(
    scores: np.ndarray, k: int, seed: int
) -> None:
    chosen = select_top_k(scores, k, rng=np.random.default_rng(seed))
    assert chosen.size == min(k, scores.size)
    assert np.unique(chosen).size == chosen.size
    expected = np.sort(scores)[::-1][: chosen.size]
    np.testing.assert_array_equal(scores[chosen], expected)  # best first, true top-k values


@FAST
@given(
    scores=arrays(np.float64, st.integers(1, 30), elements=st.sampled_from([0.0, 1.0, 2.0])),
    k=st.integers(0, 30),
    data=st.data(),
)
def test_select_top_k_respects_exclude(scores: np.ndarray, k: int, data: st.DataObject) -> None:
    exclude = data.draw(arrays(bool, scores.shape))
    chosen = select_top_k(scores, k, rng=np.random.default_rng(0), exclude=exclude)
    assert not exclude[chosen].any()
    assert np.unique(chosen).size == chosen.size
    assert chosen.size == min(k, int((~exclude).sum()))


def test_select_top_k_breaks_ties_with_the_rng_only() -> None:
    scores = np.zeros(100)
    picks = {tuple(select_top_k(scores, 3, rng=np.random.default_rng(s))) for s in range(20)}
    assert len(picks) > 1
    again = select_top_k(scores, 3, rng=np.random.default_rng(4))
    assert tuple(again) == tuple(select_top_k(scores, 3, rng=np.random.default_rng(4)))


def _kcenter_reference(x: np.ndarray, lab: np.ndarray, k: int) -> list[int]:
    """Brute force: recompute every distance from scratch at every pick (float64)."""
    picks: list[int] = []
    for _ in range(k):
        centers = np.vstack([lab, x[picks]])
        d = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        d[picks] = -1
        picks.append(int(np.argmax(d)))
    return picks


@pytest.mark.parametrize("seed", range(5))
def test_kcenter_incremental_matches_brute_force(seed: int) -> None:
    inputs = make_inputs(150, d=5, m=4, seed=seed)
    got, _ = rank("kcenter_greedy", inputs, 20, rng=np.random.default_rng(0))
    want = _kcenter_reference(inputs.embeddings.astype(np.float64), inputs.labeled_embeddings, 20)
    assert got.tolist() == want


def test_take_within_budget_skips_items_that_do_not_fit() -> None:
    costs = np.array([5.0, 1.0, 4.0, 2.0, 1.0])
    kept = take_within_budget(np.array([0, 2, 1, 3, 4]), costs, budget=7.0)
    assert kept.tolist() == [0, 1, 4]  # 5 + 1 + 1; 4 and 2 do not fit when reached
    assert take_within_budget(np.array([1, 4]), costs, 10.0).tolist() == [1, 4]
    with pytest.raises(ValueError, match="budget"):
        take_within_budget(np.array([0]), costs, -1.0)


def test_per_cost_prefers_cheap_items_with_equal_utility() -> None:
    probs = np.full((4, 2), 0.5)
    inputs = StrategyInputs(probs=probs, costs=np.array([4.0, 1.0, 2.0, 8.0]))
    chosen, _ = rank("per_cost", inputs, 4, rng=np.random.default_rng(0))
    assert chosen.tolist() == [1, 2, 0, 3]


def test_per_cost_with_margin_keeps_margin_order_at_equal_cost() -> None:
    inputs = make_inputs(50)
    equal = StrategyInputs(probs=inputs.probs, costs=np.ones(50))
    got, _ = rank("per_cost", equal, 10, rng=np.random.default_rng(0), params={"base": "margin"})
    want, _ = rank("margin", equal, 10, rng=np.random.default_rng(0))
    assert got.tolist() == want.tolist()


def test_rank_within_budget_counts_cost() -> None:
    inputs = make_inputs(100)
    chosen, scores = rank_within_budget("entropy", inputs, 10.0, rng=np.random.default_rng(0))
    assert inputs.costs[chosen].sum() <= 10.0
    assert chosen.size == scores.size > 0
    with pytest.raises(ValueError, match="costs"):
        rank_within_budget("entropy", StrategyInputs(probs=inputs.probs), 5.0, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"diversify": "entropy"}, "batch strategy"),
        ({"m": 0}, "m must be"),
        ({"base": "kcenter_greedy"}, "pointwise"),
    ],
)
def test_prefilter_rejects_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rank("prefilter", make_inputs(40), 5, rng=np.random.default_rng(0), params=params)


def test_prefilter_raises_m_to_k_rather_than_failing() -> None:
    # a server ranks queue_depth items, deeper than the batch a configured m was sized for
    inputs = make_inputs(200)
    chosen, _ = rank("prefilter", inputs, 20, rng=np.random.default_rng(0), params={"m": 5})
    top, _ = rank("margin", inputs, 20, rng=np.random.default_rng(0))
    assert sorted(chosen.tolist()) == sorted(top.tolist())


def test_prefilter_m_mult_sizes_the_candidates_by_k() -> None:
    inputs = make_inputs(300)
    params = {"diversify": "typiclust"}
    by_mult, _ = rank("prefilter", inputs, 10, rng=np.random.default_rng(2), params={**params, "m_mult": 20})
    by_m, _ = rank("prefilter", inputs, 10, rng=np.random.default_rng(2), params={**params, "m": 200})
    np.testing.assert_array_equal(by_mult, by_m)
    top, _ = rank("margin", inputs, 200, rng=np.random.default_rng(2))
    assert set(by_mult.tolist()) <= set(top.tolist())


def test_prefilter_picks_only_among_the_top_m() -> None:
    inputs = make_inputs(200)
    top, _ = rank("margin", inputs, 30, rng=np.random.default_rng(0))
    chosen, _ = rank("prefilter", inputs, 10, rng=np.random.default_rng(0), params={"m": 30})
    assert set(chosen.tolist()) <= set(top.tolist())


@pytest.mark.parametrize(("m", "follows"), [(3, "typiclust"), (79, "typiclust"), (80, "margin"), (90, "margin")])
def test_tcm_follows_typiclust_below_per_class_labels_then_margin(m: int, follows: str) -> None:
    inputs = make_inputs(200, m=m)  # 4 classes, per_class 20: the switch is at 80 labeled
    chosen, scores = rank("tcm", inputs, 12, rng=np.random.default_rng(3))
    want, want_scores = rank(follows, inputs, 12, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(chosen, want)
    np.testing.assert_allclose(scores, want_scores)


def test_tcm_switch_at_overrides_per_class_and_wrapped_strategies_are_configurable() -> None:
    inputs = make_inputs(100, m=5)
    chosen, _ = rank("tcm", inputs, 8, rng=np.random.default_rng(0), params={"switch_at": 5, "then": "entropy"})
    want, _ = rank("entropy", inputs, 8, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(chosen, want)


@pytest.mark.parametrize(("m", "phase"), [(5, "first"), (90, "then")])
def test_tcm_passes_each_phase_its_own_parameters(m: int, phase: str) -> None:
    inputs = make_inputs(200, m=m)  # the switch is at 80 labeled
    inner = {"diversify": "typiclust", "m": 40}
    params = {"first": "prefilter", "then": "prefilter", f"{phase}_params": inner}
    chosen, scores = rank("tcm", inputs, 10, rng=np.random.default_rng(4), params=params)
    want, want_scores = rank("prefilter", inputs, 10, rng=np.random.default_rng(4), params=inner)
    plain, _ = rank("prefilter", inputs, 10, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(chosen, want)
    np.testing.assert_allclose(scores, want_scores)
    assert chosen.tolist() != plain.tolist()  # the parameters reached the inner strategy


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("kcenter_greedy", {"metric": "manhattan"}, "metric"),
        ("information_density", {"similarity": "dot"}, "similarity"),
        ("typiclust", {"n_neighbors": 0}, "n_neighbors"),
        ("probcover", {"delta": -1.0}, "delta"),
        ("batchbald", {"n_configs": 0}, "n_configs"),
        ("cluster_margin", {"margin_mult": 0.5}, "margin_mult"),
        ("per_cost", {"power": -1.0}, "power"),
        ("average_kl", {"eps": 0.0}, "eps"),
        ("prefilter", {"m_mult": 0.5}, "m_mult"),
        ("tcm", {"per_class": 0}, "per_class"),
        ("tcm", {"switch_at": -1}, "switch_at"),
    ],
)
def test_bad_parameter_values_are_value_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rank(name, make_inputs(30), 3, rng=np.random.default_rng(0), params=params)


def test_mismatched_shapes_are_value_errors() -> None:
    inputs = make_inputs(30)
    bad = StrategyInputs(probs=inputs.probs, embeddings=inputs.embeddings[:10])
    with pytest.raises(ValueError, match="rows"):
        rank("badge", bad, 3, rng=np.random.default_rng(0))
    lab = StrategyInputs(embeddings=inputs.embeddings, labeled_embeddings=np.ones((2, 3)))
    with pytest.raises(ValueError, match="columns"):
        rank("kcenter_greedy", lab, 3, rng=np.random.default_rng(0))


def test_batchbald_sampled_joint_still_prefers_informative_diverse_points() -> None:
    inputs = make_inputs(120, c=3, s=8)
    exact, _ = rank("batchbald", inputs, 6, rng=np.random.default_rng(0), params={"max_configs": 10**6})
    sampled, _ = rank(
        "batchbald", inputs, 6, rng=np.random.default_rng(0), params={"max_configs": 3, "n_configs": 4096}
    )
    assert exact[:2].tolist() == sampled[:2].tolist()  # exact until C**t > max_configs
    assert len(set(exact.tolist()) & set(sampled.tolist())) >= 3
