"""The multi-label strategies against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alloop.strategies import StrategyInputs, rank
from alloop.strategies import registry
from alloop.strategies.multilabel import binary_entropy, predicted_counts

RNG = np.random.default_rng(0)
PROBS = np.array([
    [0.5, 0.9, 0.1],   # one label right at the boundary
    [0.8, 0.7, 0.2],
    [0.99, 0.01, 0.99],
])


def _score(name: str, probs=PROBS, **extra) -> np.ndarray:
    from alloop.strategies.registry import score

    return score(name, StrategyInputs(probs=probs, **extra), rng=np.random.default_rng(0))


def h(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_binary_entropy_is_zero_at_certainty_and_log2_at_one_half():
    np.testing.assert_allclose(binary_entropy(np.array([0.0, 1.0, 0.5])), [0.0, 0.0, math.log(2)], atol=1e-9)


def test_mean_and_max_binary_entropy():
    expected_mean = [(h(0.5) + h(0.9) + h(0.1)) / 3, (h(0.8) + h(0.7) + h(0.2)) / 3, (h(0.99) * 3) / 3]
    np.testing.assert_allclose(_score("binary_entropy_mean"), expected_mean)
    np.testing.assert_allclose(_score("binary_entropy_max"), [math.log(2), h(0.7), h(0.99)])


def test_br_margin_is_one_minus_the_smallest_margin():
    # min |2p - 1|: row 0 -> 0.0 (p = 0.5), row 1 -> 0.4 (p = 0.7), row 2 -> 0.98
    np.testing.assert_allclose(_score("br_margin"), [1.0, 0.6, 0.02])


def test_cardinality_inconsistency_against_the_labeled_mean():
    labeled = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1]])  # mean cardinality 1.5
    # predicted (p > 0.5): row 0 -> 1 label, row 1 -> 2, row 2 -> 2
    np.testing.assert_allclose(_score("cardinality_inconsistency", labeled_targets=labeled), [0.5, 0.5, 0.5])
    one = np.array([[1, 0, 0], [0, 1, 0]])  # mean 1
    np.testing.assert_allclose(_score("cardinality_inconsistency", labeled_targets=one), [0.0, 1.0, 1.0])


def test_mmc_with_one_label_count_seen():
    labeled = np.array([[1, 0, 0], [0, 1, 0]])  # every labeled item has 1 label: m = 1 for all
    labeled_probs = np.array([[0.9, 0.2, 0.1], [0.3, 0.8, 0.2]])
    # y = +1 on the most probable label, -1 elsewhere; score = sum (1 - y (2p - 1)) / 2
    # row 0: top label is 1 (0.9): (1 - 0.8)/2 + (1 + 0.0)/2 + (1 - 0.8)/2 = 0.1 + 0.5 + 0.1 = 0.7
    # row 1: top label 0 (0.8):    (1 - 0.6)/2 + (1 + 0.4)/2 + (1 - 0.6)/2 = 0.2 + 0.7 + 0.2 = 1.1
    # row 2: top label 0 (0.99 tie, first by stable order): (1 - 0.98)/2 + (1 - 0.98)/2 + (1 + 0.98)/2 = 0.01 + 0.01 + 0.99
    got = _score("mmc", labeled_targets=labeled, labeled_probs=labeled_probs)
    np.testing.assert_allclose(got, [0.7, 1.1, 1.01])


def test_mmc_counts_come_from_a_logistic_regression_on_sorted_probabilities():
    # items with one confident label have 1 label, items with three high probabilities have 3
    labeled_probs = np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.9, 0.9, 0.9], [0.8, 0.9, 0.85]] * 3)
    labeled = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1], [1, 1, 1]] * 3)
    pool = np.array([[0.05, 0.95, 0.05], [0.9, 0.88, 0.92]])
    np.testing.assert_array_equal(predicted_counts(pool, labeled_probs, labeled), [1, 3])
    # with m = 3 on row 1 every label is +1: score = sum (1 - (2p - 1)) / 2 = sum (1 - p)
    got = _score("mmc", probs=pool, labeled_targets=labeled, labeled_probs=labeled_probs)
    np.testing.assert_allclose(got[1], (1 - 0.9) + (1 - 0.88) + (1 - 0.92))


def test_mmc_without_labels_predicts_the_expected_count_and_at_least_one():
    empty = np.empty((0, 3))
    np.testing.assert_array_equal(predicted_counts(np.array([[0.9, 0.8, 0.1], [0.1, 0.1, 0.1]]), empty, empty), [2, 1])


def test_the_most_uncertain_item_is_ranked_first():
    chosen, _ = rank("br_margin", StrategyInputs(probs=PROBS), 3, rng=RNG)
    assert chosen.tolist() == [0, 1, 2]


def test_scores_are_invariant_under_label_permutation():
    perm = [2, 0, 1]
    labeled = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    lp = np.array([[0.8, 0.3, 0.6], [0.2, 0.7, 0.4], [0.6, 0.9, 0.1]])
    for name in ("binary_entropy_mean", "binary_entropy_max", "br_margin", "cardinality_inconsistency", "mmc"):
        base = _score(name, labeled_targets=labeled, labeled_probs=lp)
        moved = _score(name, probs=PROBS[:, perm], labeled_targets=labeled[:, perm], labeled_probs=lp[:, perm])
        np.testing.assert_allclose(base, moved, err_msg=name)


def test_multilabel_strategies_rank_for_multilabel_projects_only():
    assert set(registry.for_task("multilabel")) >= {"binary_entropy_mean", "binary_entropy_max", "br_margin", "mmc",
                                                   "cardinality_inconsistency", "random"}
    assert "margin" not in registry.for_task("multilabel")
    assert "mmc" not in registry.for_task("classification") and "random" in registry.for_task("classification")
    with pytest.raises(ValueError, match="accepted: .*binary_entropy_mean"):
        registry.check_task("entropy", "multilabel")
