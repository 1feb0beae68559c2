"""The learning-curve forecast: fit, invert, interval, and its clear non-answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alloop.simulate.forecast import MIN_POINTS, fit_curve, forecast, labels_for


def ipl_curve(a=0.95, b=2.0, c=0.6, ns=(20, 40, 60, 80, 100, 120), noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {"labels": n, "accuracy": a - b * n ** (-c) + noise * rng.standard_normal()} for n in ns
    ]


def truth(target, a=0.95, b=2.0, c=0.6):
    return (b / (a - target)) ** (1 / c)


def test_fit_recovers_an_exact_curve():
    points = ipl_curve()
    params = fit_curve(
        np.array([p["labels"] for p in points], float), np.array([p["accuracy"] for p in points])
    )
    assert params == pytest.approx([0.95, 2.0, 0.6], rel=1e-3)
    assert labels_for(params, 0.9) == pytest.approx(truth(0.9), rel=1e-3)
    assert math.isinf(labels_for(params, 0.96))


def test_forecast_of_a_noisy_curve_brackets_the_truth():
    answer = forecast(ipl_curve(noise=0.003), 0.90)
    needed = truth(0.90) - 120
    assert answer["reason"] is None and answer["model"]["name"] == "inverse_power_law"
    lo, hi = answer["interval"]
    assert lo <= needed and (hi is None or needed <= hi)  # hi None: the bootstrap allows "never"
    assert abs(answer["labels_needed"] - needed) < 0.25 * needed
    assert abs(answer["total_labels"] - 120 - answer["labels_needed"]) <= 1
    assert answer["fit_points"] == 6 and answer["labels"] == 120


def test_not_enough_points_yet():
    answer = forecast(ipl_curve(ns=(20, 40)), 0.9)
    assert answer["labels_needed"] is None and answer["interval"] is None
    assert (
        answer["reason"].startswith("not enough points yet") and str(MIN_POINTS) in answer["reason"]
    )


def test_already_reached():
    answer = forecast(ipl_curve(), 0.5)
    assert answer["reached"] and answer["labels_needed"] == 0 and answer["interval"] == [0, 0]


def test_target_above_the_plateau_has_no_estimate():
    answer = forecast(ipl_curve(), 0.99)
    assert answer["labels_needed"] is None and "plateau" in answer["reason"]
    assert answer["interval"][1] is None  # the bootstrap agrees: possibly never
    assert answer["never"]


def test_a_curve_that_has_not_moved_gets_no_forecast_rather_than_never():
    # a model stuck on the majority class scores the same for rounds, then jumps (sms_spam, 13% spam)
    flat = [{"labels": n, "accuracy": 0.866} for n in (20, 40, 60, 80, 100)]
    answer = forecast(flat, 0.93)
    assert answer["labels_needed"] is None and answer["interval"] is None and answer["model"] is None
    assert not answer["never"] and "has not moved" in answer["reason"]
    risen = forecast([*flat[:-1], {"labels": 100, "accuracy": 0.9}], 0.93)
    assert risen["model"] is not None and "has not moved" not in (risen["reason"] or "")


def test_a_flat_campaign_that_never_reaches_the_target_is_not_counted_as_called_right():
    from alloop.simulate.summary import _score

    def record(predicted, never):
        return {"actual": None, "predicted": predicted, "lo": None, "hi": None, "never": never}

    score = _score([record(None, True), record(None, False), record(900, False), record(200, False)], budget=300)
    assert score["censored"] == 4 and score["censored_called_right"] == 2  # "never" and "past the budget"
    assert score["no_estimate"] == 1


def test_other_metric_and_deterministic():
    points = [{**p, "macro_f1": p["accuracy"] - 0.05} for p in ipl_curve(noise=0.003)]
    a, b = forecast(points, 0.85, "macro_f1"), forecast(points, 0.85, "macro_f1")
    assert a == b and a["metric"] == "macro_f1" and a["labels_needed"] > 0


def test_the_interval_covers_where_noisy_campaigns_actually_cross():
    # 40 campaigns on one true curve with eval noise; forecast from the first 6 rounds, then see
    # where each campaign's *observed* curve first reached the target. Fixed seeds: deterministic.
    ns = np.arange(20, 1001, 20)
    target, covered, errors = 0.88, 0, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        observed = 0.95 - 2.0 * ns ** -0.6 + 0.01 * rng.standard_normal(ns.size)
        actual = int(ns[np.argmax(observed >= target)])
        seen = [{"labels": int(n), "accuracy": float(v)} for n, v in zip(ns[:6], observed[:6])]
        answer = forecast(seen, target, rounds=60, seed=seed)
        lo, hi = answer["interval"]
        covered += lo + 120 <= actual and (hi is None or actual <= hi + 120)
        if answer["total_labels"] is not None:
            errors.append(abs(answer["total_labels"] - actual) / actual)
    assert covered / 40 >= 0.85  # nominal 0.9; the case bootstrap it replaced covered 0.80 here
    assert np.median(errors) < 0.5
