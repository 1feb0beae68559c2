"""AUBC, labels to target, confidence intervals and paired savings."""

from __future__ import annotations

import math

import pytest

from alloop.simulate.metrics import aubc, labels_to_reach, mean_ci, paired_savings, value_at


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
    assert mean_ci([4.0]) == {"mean": 4.0, "lo": 4.0, "hi": 4.0, "n": 1}
    assert mean_ci([float("nan")])["n"] == 0


def test_paired_savings_leave_out_censored_seeds():
    saved = paired_savings({0: 60, 1: 80, 2: None}, {0: 100, 1: 200, 2: 150})
    assert saved["seeds"] == 2 and saved["censored"] == 1
    assert saved["labels"]["mean"] == pytest.approx(80.0)
    assert saved["share"]["mean"] == pytest.approx((0.4 + 0.6) / 2)
    assert saved["ratio"] == pytest.approx(70 / 150)
