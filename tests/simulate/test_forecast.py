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


def scored(actual, *, predicted=None, never=False, beyond=None, lo=None, hi=None, run_end=300):
    """A forecast record as :func:`alloop.simulate.summary._one_forecast` makes it."""
    return {"actual": actual, "run_end": run_end, "predicted": predicted, "beyond": beyond,
            "lo": lo, "hi": hi, "never": never}  # fmt: skip


def test_reaching_the_target_past_the_budget_is_called_only_by_a_number_past_it():
    from alloop.simulate.summary import _score

    # random runs to 2x the budget: it reached the target at 450, after the budget of 300
    past = [
        scored(450, never=True, run_end=600),  # "never": wrong, it got there
        scored(450, predicted=500, run_end=600),
        scored(450, beyond=6000, run_end=600),  # "more than 6000 labels": past the budget
        scored(450, predicted=250, run_end=600),  # within the budget: wrong
        scored(450, run_end=600),  # no estimate: no call
    ]
    score = _score(past, budget=300)
    assert score["past_budget"] == 5 and score["past_budget_called_right"] == 2
    assert score["censored"] == 0 and score["within_budget"] == 0 and score["interval_coverage"] is None


def test_never_reaching_within_the_run_is_called_by_never_or_a_number_past_the_run():
    from alloop.simulate.summary import _score

    never = [
        scored(None, never=True, run_end=600),
        scored(None, predicted=700, run_end=600),
        scored(None, beyond=6000, run_end=600),
        scored(None, predicted=500, run_end=600),  # past the budget but inside the run: it would have seen it
    ]
    score = _score(never, budget=300)
    assert score["censored"] == 4 and score["censored_called_right"] == 3 and score["past_budget"] == 0


def test_an_open_interval_covers_nothing():
    from alloop.simulate.summary import _score

    records = [
        scored(150, predicted=160, lo=140, hi=None),  # "possibly never" at the top
        scored(150, predicted=160, lo=140, hi=170),
        scored(150),  # no forecast, no interval: not part of the coverage
    ]
    score = _score(records, budget=300)
    assert score["within_budget"] == 3 and score["with_interval"] == 2 and score["covered"] == 1
    assert score["interval_coverage"] == 0.5 and score["open_intervals"] == 1
    assert score["median_abs_error"] == 10 and score["no_estimate"] == 1


def test_evaluate_forecasts_scores_a_never_that_random_disproves_past_the_budget():
    from alloop.simulate.summary import evaluate_forecasts

    # rises to a plateau of 0.75 by the forecast point (a third of 300), then reaches 0.96 at 450
    early = [(p["labels"], p["accuracy"]) for p in ipl_curve(a=0.75, ns=(20, 40, 60, 80, 100))]
    points = [*early, (200, 0.74), (300, 0.75), (450, 0.96), (600, 0.96)]
    campaign = {"source": "alloop", "method": "alloop:random", "seed": 0, "batch_size": 20, "seconds": 1.0,
                "curve": [{"labels": n, "accuracy": a, "macro_f1": a} for n, a in points]}  # fmt: skip
    result = {"protocol": {"budget": 300}, "references": [{"seed": 0, "accuracy": 1.0}], "campaigns": [campaign]}
    evaluation = evaluate_forecasts(result)
    (record,) = evaluation["records"]
    assert record["never"] and record["actual"] == 450 and record["run_end"] == 600
    assert record["outcome"] == "past_budget" and record["called_right"] is False
    assert evaluation["past_budget"] == 1 and evaluation["past_budget_called_right"] == 0
    assert evaluation["censored"] == 0 and evaluation["censored_called_right"] == 0


def test_never_only_with_a_plateau_below_the_target():
    # curves rising like a logarithm fit the plateau bound a = 1: the trend does get to any target,
    # later than the simulated futures were followed (50 x 120 labels), so "more than 6000", not "never"
    ns = (20, 40, 60, 80, 100, 120)
    log_like = lambda slope: [{"labels": n, "accuracy": 0.5 + slope * math.log(n)} for n in ns]
    answers = [
        (forecast(log_like(slope), target, rounds=30), target)
        for slope, target in ((0.02, 0.8), (0.02, 0.95), (0.05, 0.9))
    ]
    answers.append((forecast(ipl_curve(), 0.99, rounds=30), 0.99))  # plateau 0.95: never
    for answer, target in answers:
        a = answer["model"]["params"]["a"]
        assert not (answer["never"] and a >= target), answer["reason"]
        assert not (answer["never"] and answer["beyond_labels"] is not None)
    beyond = [answer for answer, _ in answers if answer["beyond_labels"] is not None]
    assert len(beyond) == 3 and sum(answer["never"] for answer, _ in answers) == 1
    for answer in beyond:
        assert answer["beyond_labels"] == 6000 and answer["total_labels"] is None
        assert answer["interval"][1] is None and "at or above" in answer["reason"]
