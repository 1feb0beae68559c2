"""AUBC, labels to target, confidence intervals and paired savings."""

from __future__ import annotations

import math

import pytest

from alloop.simulate.metrics import (
    FEW_SEEDS,
    aubc,
    labels_to_reach,
    mean_ci,
    paired_savings,
    value_at,
)


def curve(*points):
    return [{"labels": n, "accuracy": a, "macro_f1": a / 2} for n, a in points]


@pytest.mark.parametrize(
    ("points", "budget", "expected"),
    [
        (((10, 0.5), (20, 0.5), (30, 0.5)), 30, 0.5),  # flat
        (((10, 0.0), (30, 1.0)), 30, 0.5),  # linear: the mean of its ends
        (((10, 0.2), (20, 0.8)), 30, (0.5 * 10 + 0.8 * 10) / 20),  # held flat past its last point
        (((10, 0.2), (20, 0.8), (40, 0.0)), 20, 0.5),  # points past the budget ignored
        (((10, 0.7),), 10, 0.7),
    ],
)
def test_aubc(points, budget, expected):
    assert aubc(curve(*points), budget) == pytest.approx(expected)


def test_aubc_on_another_metric():
    assert aubc(curve((10, 0.4), (20, 0.4)), 20, "macro_f1") == pytest.approx(0.2)


def test_labels_to_reach_takes_the_first_point_at_or_above():
    c = curve((20, 0.5), (40, 0.9), (60, 0.85), (80, 0.95))
    assert labels_to_reach(c, 0.9) == 40
    assert labels_to_reach(c, 0.95) == 80
    assert labels_to_reach(c, 0.99) is None


def test_value_at_is_the_newest_model_at_or_below():
    c = curve((20, 0.5), (40, 0.9))
    assert value_at(c, 39) == 0.5 and value_at(c, 40) == 0.9 and math.isnan(value_at(c, 10))


def test_mean_ci():
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci["mean"] == 2.0 and ci["lo"] < 2.0 < ci["hi"] and ci["n"] == 3
    one = mean_ci([4.0])
    assert {k: one[k] for k in ("mean", "lo", "hi", "n")} == {"mean": 4.0, "lo": 4.0, "hi": 4.0, "n": 1}
    assert mean_ci([float("nan")])["n"] == 0


def test_paired_savings_leave_out_censored_seeds():
    saved = paired_savings({0: 60, 1: 80, 2: None}, {0: 100, 1: 200, 2: 150})
    assert saved["seeds"] == 2 and saved["censored"] == 1
    assert saved["labels"]["mean"] == pytest.approx(80.0)
    assert saved["share"]["mean"] == pytest.approx((0.4 + 0.6) / 2)
    assert saved["ratio"] == pytest.approx(70 / 150)


def test_mean_ci_is_cut_to_its_bounds_and_says_so():
    # two seeds needing 20 and 492 labels, 20 of them initial: the t interval runs below zero labels
    ci = mean_ci([20, 492], bounds=(20, 600))
    assert ci["mean"] == 256 and ci["n"] == 2
    assert ci["lo_unclipped"] < 0 and ci["hi_unclipped"] > 600
    assert (ci["lo"], ci["hi"]) == (20, 600) and ci["clipped"]
    area = mean_ci([0.99, 0.90], bounds=(0.0, 1.0))
    assert area["hi"] == 1.0 and area["hi_unclipped"] > 1.0 and area["clipped"]


def test_mean_ci_inside_its_bounds_is_the_plain_t_interval():
    values = [0.80, 0.81, 0.82, 0.79, 0.80, 0.81]
    ci, plain = mean_ci(values, bounds=(0.0, 1.0)), mean_ci(values)
    assert not ci["clipped"] and (ci["lo"], ci["hi"]) == (plain["lo"], plain["hi"])
    assert (ci["lo"], ci["hi"]) == (ci["lo_unclipped"], ci["hi_unclipped"])
    one_end = mean_ci([-0.2, 0.1], bounds=(None, 1.0))  # an open end cuts nothing
    assert one_end["lo"] == one_end["lo_unclipped"] < -1 and one_end["hi"] == 1.0


def test_few_seeds_are_flagged_below_five():
    assert FEW_SEEDS == 5
    assert mean_ci([1.0, 2.0, 3.0, 4.0])["few_seeds"] and mean_ci([2.0])["few_seeds"]
    assert not mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])["few_seeds"]
    assert mean_ci([])["few_seeds"] and not mean_ci([])["clipped"]


def test_mean_ci_refuses_values_outside_its_bounds():
    with pytest.raises(ValueError, match="outside the bounds"):
        mean_ci([0.5, 1.2], bounds=(0.0, 1.0))
    assert mean_ci([1.0 + 1e-15, 0.9], bounds=(0.0, 1.0))["hi"] == 1.0  # rounding is not a violation


def test_paired_savings_intervals_stay_possible():
    needed, baseline = {0: 20, 1: 300}, {0: 400, 1: 320}
    free = paired_savings(needed, baseline)
    assert free["share"]["hi_unclipped"] > 1 and free["share"]["hi"] == 1.0 and free["share"]["clipped"]
    ranged = paired_savings(needed, baseline, ((20, 300), (20, 600)))
    assert ranged["share"]["hi"] == pytest.approx(1 - 20 / 600)
    assert ranged["labels"]["lo"] == 20 - 300 and ranged["labels"]["hi"] == 600 - 20
    assert ranged["labels"]["mean"] == free["labels"]["mean"] == pytest.approx(200.0)
