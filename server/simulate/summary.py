"""From raw simulation results to tables: AUBC, labels to target, savings, verdicts, forecast accuracy.

``result`` is what :func:`alloop.simulate.grid.run_grid` returns for one dataset
(references per seed and one record per campaign, alloop's and the peers'). The
target is ``target_share`` (0.95) of each seed's full-data accuracy: the model trained
on that seed's whole pool, scored on its eval split.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

import numpy as np

from alloop.simulate.forecast import forecast
from alloop.simulate.metrics import aubc, labels_to_reach, mean_ci, paired_savings, value_at

__all__ = ["BASELINE", "evaluate_forecasts", "summarize", "targets", "verdicts"]

BASELINE = "alloop:random"
UNIT = (0.0, 1.0)  # where AUBC, accuracy and macro-F1 lie
DIFFERENCE = (-1.0, 1.0)  # where a paired difference of two of those lies
OUTCOMES = ("within_budget", "past_budget", "never")  # where a forecast campaign reached its target


def targets(result: dict[str, Any], share: float) -> dict[int, float]:
    """Per seed: ``share`` of the full-data accuracy."""
    return {r["seed"]: share * r["accuracy"] for r in result["references"]}


def _groups(result: dict[str, Any]) -> dict[tuple[int, str], dict[int, dict[str, Any]]]:
    """(batch size, method) -> seed -> campaign."""
    out: dict[tuple[int, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for c in result["campaigns"]:
        out[(c["batch_size"], c["method"])][c["seed"]] = c
    return out


def _checkpoints(budget: int) -> list[int]:
    return sorted({round(budget * 2 / 3), budget})


def _label_range(runs: dict[int, dict[str, Any]], budget: int) -> tuple[int, int]:
    """Fewest and most labels a method's campaigns had a model at: where labels to target can lie.

    The first curve point is the initial labels; the last is where the campaign stopped (its
    budget, which is larger for random, or earlier when the pool ran out). Without any curve
    point: ``(0, budget)``.
    """
    labels = [int(p["labels"]) for c in runs.values() for p in c["curve"]]
    return (min(labels), max(labels)) if labels else (0, budget)


def _row(
    result: dict[str, Any],
    batch: int,
    method: str,
    runs: dict[int, dict[str, Any]],
    goal: dict[int, float],
) -> tuple[dict[str, Any], dict[int, int | None], dict[int, float]]:
    budget = result["protocol"]["budget"]
    needed = {s: labels_to_reach(c["curve"], goal[s]) for s, c in runs.items()}
    areas = {s: aubc(c["curve"], budget) for s, c in runs.items()}
    f1_areas = [aubc(c["curve"], budget, "macro_f1") for c in runs.values()]
    row = {
        "dataset": result["dataset"],
        "batch_size": batch,
        "method": method,
        "source": next(iter(runs.values()))["source"],
        "seeds": len(runs),
        "aubc": mean_ci(list(areas.values()), bounds=UNIT),
        "aubc_macro_f1": mean_ci(f1_areas, bounds=UNIT),
        "labels_to_target": mean_ci(
            [v for v in needed.values() if v is not None], bounds=_label_range(runs, budget)
        ),
        "reached": sum(v is not None for v in needed.values()),
        "accuracy_at": {
            str(n): mean_ci([value_at(c["curve"], n) for c in runs.values()], bounds=UNIT)
            for n in _checkpoints(budget)
        },
        "seconds": statistics.fmean(c["seconds"] for c in runs.values()),
    }
    return row, needed, areas


def _against_random(
    result: dict[str, Any],
    runs: dict[int, dict[str, Any]],
    base: dict[int, dict[str, Any]],
    needed: dict[int, int | None],
    areas: dict[int, float],
    goal: dict[int, float],
) -> dict[str, Any]:
    """``saved_vs_random`` (labels to target, paired by seed) and ``aubc_gain_vs_random``."""
    budget = result["protocol"]["budget"]
    base_needed = {s: labels_to_reach(c["curve"], goal[s]) for s, c in base.items()}
    ranges = (_label_range(runs, budget), _label_range(base, budget))
    base_areas = {s: aubc(c["curve"], budget) for s, c in base.items()}
    return {
        "saved_vs_random": paired_savings(needed, base_needed, ranges),
        "aubc_gain_vs_random": _paired_diff(areas, base_areas),
    }


def summarize(result: dict[str, Any], share: float = 0.95) -> list[dict[str, Any]]:
    """One row per (batch size, method): AUBC, labels to target, savings against random (paired by seed).

    Every interval is a :func:`~alloop.simulate.metrics.mean_ci` cut to what its values can take:
    AUBC and accuracy in [0, 1], labels to target between the method's first and last label counts,
    the share saved at most 1, AUBC differences in [-1, 1].
    """
    goal = targets(result, share)
    groups = _groups(result)
    rows = []
    order = lambda key: (key[0], key[1] != BASELINE, not key[1].startswith("alloop:"), key[1])
    for (batch, method), runs in sorted(groups.items(), key=lambda item: order(item[0])):
        row, needed, areas = _row(result, batch, method, runs, goal)
        base = groups.get((batch, BASELINE))
        if base is not None:
            row |= _against_random(result, runs, base, needed, areas, goal)
        row["needed_by_seed"] = {str(s): v for s, v in sorted(needed.items())}
        rows.append(row)
    return rows


def _paired_diff(a: dict[int, float], b: dict[int, float]) -> dict[str, Any]:
    return mean_ci([a[s] - b[s] for s in a if s in b], bounds=DIFFERENCE)


def _call(diff: dict[str, Any]) -> str:
    """win / loss / tie by the sign of the difference's t interval before clipping; n/a without one."""
    lo, hi = diff.get("lo_unclipped", diff["lo"]), diff.get("hi_unclipped", diff["hi"])
    if diff["n"] == 0 or math.isnan(lo):
        return "n/a"
    return "win" if lo > 0 else ("loss" if hi < 0 else "tie")


def verdicts(result: dict[str, Any], rows: list[dict[str, Any]], batch: int) -> dict[str, Any]:
    """Best alloop strategy against random and against the best peer, by paired AUBC difference."""
    budget = result["protocol"]["budget"]
    groups = _groups(result)
    mine = [
        r
        for r in rows
        if r["batch_size"] == batch and r["source"] == "alloop" and r["method"] != BASELINE
    ]
    peers = [r for r in rows if r["batch_size"] == batch and r["source"] != "alloop"]
    if not mine:
        return {}
    areas = lambda method: {s: aubc(c["curve"], budget) for s, c in groups[(batch, method)].items()}
    best = max(mine, key=lambda r: r["aubc"]["mean"])
    out: dict[str, Any] = {"best_alloop": best["method"], "aubc": best["aubc"]}
    if (batch, BASELINE) in groups:
        out["vs_random"] = _paired_diff(areas(best["method"]), areas(BASELINE))
        out["vs_random"]["call"] = _call(out["vs_random"])
    # only strategies that reached the target on every seed: a ratio over the lucky seeds flatters
    saving = [
        r
        for r in mine
        if r["reached"] == r["seeds"]
        and not math.isnan(r.get("saved_vs_random", {}).get("ratio", math.nan))
    ]
    if saving:
        lean = min(saving, key=lambda r: r["saved_vs_random"]["ratio"])
        out["leanest_alloop"] = lean["method"]
        out["label_ratio"] = lean["saved_vs_random"]["ratio"]
        out["label_ratio_met"] = lean["saved_vs_random"]["ratio"] <= 0.6
    if peers:
        top = max(peers, key=lambda r: r["aubc"]["mean"])
        out["best_peer"] = top["method"]
        out["peer_aubc"] = top["aubc"]
        out["vs_peer"] = _paired_diff(areas(best["method"]), areas(top["method"]))
        out["vs_peer"]["call"] = _call(out["vs_peer"])
        out["aubc_at_least_peer"] = best["aubc"]["mean"] >= top["aubc"]["mean"]
    return out


def _one_forecast(
    campaign: dict[str, Any], target: float, budget: int, fraction: float
) -> dict[str, Any] | None:
    """The forecast from the campaign's curve up to ``fraction`` of the budget, beside what happened.

    ``actual`` is the first label count at which the whole run (random runs past the budget) reached
    the target, None if it never did; ``run_end`` the run's last label count.
    """
    cut = fraction * budget
    seen = [p for p in campaign["curve"] if p["labels"] <= cut]
    if not seen or labels_to_reach(seen, target) is not None:
        return None  # reached before the forecast point: nothing to forecast
    f = forecast(seen, target)
    lo, hi = f["interval"] or [None, None]
    total = lambda more: None if more is None else f["labels"] + more
    record = {
        "method": campaign["method"],
        "seed": campaign["seed"],
        "at": f["labels"],
        "actual": labels_to_reach(campaign["curve"], target),
        "run_end": max(int(p["labels"]) for p in campaign["curve"]),
        "predicted": f["total_labels"],
        "beyond": f["beyond_labels"],
        "lo": total(lo),
        "hi": total(hi),
        "reason": f["reason"],
        "never": f["never"],
    }
    return {**record, "outcome": _outcome(record, budget), "called_right": _called_right(record, budget)}


def _outcome(record: dict[str, Any], budget: int) -> str:
    """``within_budget``, ``past_budget`` (reached after the budget, before the run ended) or ``never``
    (not reached by the end of the run)."""
    if record["actual"] is None:
        return "never"
    return "within_budget" if record["actual"] <= budget else "past_budget"


def _said_past(record: dict[str, Any], labels: int) -> bool:
    """Whether the forecast put the crossing past ``labels`` with a number: an estimate beyond it, or
    "more than" a count at or beyond it."""
    predicted, beyond = record["predicted"], record.get("beyond")
    return (predicted is not None and predicted > labels) or (beyond is not None and beyond >= labels)


def _called_right(record: dict[str, Any], budget: int) -> bool | None:
    """Whether a campaign that missed the budget was called: one that reached the target past the
    budget only by a number past the budget ("never" is wrong: it got there); one that never reached
    it by "never" or a number past the run's end (``run_end``; the budget when the record has none).
    None for a campaign that reached it within the budget: that is scored by error and interval."""
    outcome = _outcome(record, budget)
    if outcome == "within_budget":
        return None
    if outcome == "past_budget":
        return not record["never"] and _said_past(record, budget)
    return bool(record["never"]) or _said_past(record, record.get("run_end", budget))


def _errors(within: list[dict[str, Any]]) -> dict[str, float | None]:
    """Median absolute and relative error of the point estimates of campaigns that reached the target."""
    known = [r for r in within if r["predicted"] is not None]
    errors = [abs(r["predicted"] - r["actual"]) for r in known]
    relative = [abs(r["predicted"] - r["actual"]) / r["actual"] for r in known]
    return {
        "median_abs_error": float(np.median(errors)) if errors else None,
        "median_rel_error": float(np.median(relative)) if relative else None,
    }


def _coverage(within: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the intervals given for campaigns that reached the target within the budget held the
    actual count. Only a closed interval can hold it: one with an open upper end ("possibly never")
    counts as a miss and is also counted in ``open_intervals``; a forecast without an interval is left
    out (``with_interval`` is the denominator)."""
    given = [r for r in within if r["lo"] is not None]
    covered = sum(r["hi"] is not None and r["lo"] <= r["actual"] <= r["hi"] for r in given)
    return {
        "with_interval": len(given),
        "covered": covered,
        "interval_coverage": covered / len(given) if given else None,
        "open_intervals": sum(r["hi"] is None for r in given),
    }


def _score(records: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """Counts and errors of the forecasts by what happened (see :func:`evaluate_forecasts`)."""
    by = {o: [r for r in records if _outcome(r, budget) == o] for o in OUTCOMES}
    within = by["within_budget"]
    right = {o: sum(bool(_called_right(r, budget)) for r in by[o]) for o in ("past_budget", "never")}
    return {
        "forecasts": len(records),
        "within_budget": len(within),
        **_errors(within),
        **_coverage(within),
        "no_estimate": sum(
            r["predicted"] is None and not r["never"] and r.get("beyond") is None for r in records
        ),
        "past_budget": len(by["past_budget"]),
        "past_budget_called_right": right["past_budget"],
        "censored": len(by["never"]),
        "censored_called_right": right["never"],
    }


def evaluate_forecasts(
    result: dict[str, Any], share: float = 0.95, fraction: float = 1 / 3
) -> dict[str, Any]:
    """Forecast at ``fraction`` of the budget from each alloop campaign's curve; compare with what happened.

    Campaigns that reached the target before the forecast point are skipped; the rest fall in three
    groups by where their whole run (random runs to a multiple of the budget) first reached the target:

    - within the budget (``within_budget``): ``median_abs_error`` and ``median_rel_error`` of the point
      estimates; of the ``with_interval`` forecasts that gave an interval, ``covered`` ones whose closed
      interval holds the actual count (``interval_coverage``: their share); ``open_intervals`` counts
      intervals with an open upper end, which cover nothing;
    - past the budget, before the run ended (``past_budget``): ``past_budget_called_right`` counts
      forecasts that said so with a number past the budget ("never" is wrong);
    - never within the run (``censored``): ``censored_called_right`` counts forecasts of "never" or of a
      number past the run's end.

    ``no_estimate`` counts forecasts with neither a number nor "never" (e.g. a curve that has not moved
    yet): they are not a call. Each record carries its ``outcome`` and ``called_right``.
    """
    goal = targets(result, share)
    budget = result["protocol"]["budget"]
    records = []
    for c in result["campaigns"]:
        if c["source"] == "alloop":
            record = _one_forecast(c, goal[c["seed"]], budget, fraction)
            if record is not None:
                records.append(record)
    return {"fraction": fraction, "records": records, **_score(records, budget)}
