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
    row = {
        "dataset": result["dataset"],
        "batch_size": batch,
        "method": method,
        "source": next(iter(runs.values()))["source"],
        "seeds": len(runs),
        "aubc": mean_ci(list(areas.values())),
        "aubc_macro_f1": mean_ci([aubc(c["curve"], budget, "macro_f1") for c in runs.values()]),
        "labels_to_target": mean_ci([v for v in needed.values() if v is not None]),
        "reached": sum(v is not None for v in needed.values()),
        "accuracy_at": {
            str(n): mean_ci([value_at(c["curve"], n) for c in runs.values()])
            for n in _checkpoints(budget)
        },
        "seconds": statistics.fmean(c["seconds"] for c in runs.values()),
    }
    return row, needed, areas


def summarize(result: dict[str, Any], share: float = 0.95) -> list[dict[str, Any]]:
    """One row per (batch size, method): AUBC, labels to target, savings against random (paired by seed)."""
    goal = targets(result, share)
    groups = _groups(result)
    rows = []
    order = lambda key: (key[0], key[1] != BASELINE, not key[1].startswith("alloop:"), key[1])
    for (batch, method), runs in sorted(groups.items(), key=lambda item: order(item[0])):
        row, needed, areas = _row(result, batch, method, runs, goal)
        base = groups.get((batch, BASELINE))
        if base is not None:
            base_needed = {s: labels_to_reach(c["curve"], goal[s]) for s, c in base.items()}
            row["saved_vs_random"] = paired_savings(needed, base_needed)
            base_areas = {
                s: aubc(c["curve"], result["protocol"]["budget"]) for s, c in base.items()
            }
            row["aubc_gain_vs_random"] = mean_ci(
                [areas[s] - base_areas[s] for s in areas if s in base_areas]
            )
        row["needed_by_seed"] = {str(s): v for s, v in sorted(needed.items())}
        rows.append(row)
    return rows


def _paired_diff(a: dict[int, float], b: dict[int, float]) -> dict[str, float | int]:
    return mean_ci([a[s] - b[s] for s in a if s in b])


def _call(diff: dict[str, Any]) -> str:
    if diff["n"] == 0 or math.isnan(diff["lo"]):
        return "n/a"
    return "win" if diff["lo"] > 0 else ("loss" if diff["hi"] < 0 else "tie")


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
    cut = fraction * budget
    seen = [p for p in campaign["curve"] if p["labels"] <= cut]
    if not seen or labels_to_reach(seen, target) is not None:
        return None  # reached before the forecast point: nothing to forecast
    actual = labels_to_reach([p for p in campaign["curve"] if p["labels"] <= budget], target)
    f = forecast(seen, target)
    lo, hi = f["interval"] or [None, None]
    total = lambda more: None if more is None else f["labels"] + more
    return {
        "method": campaign["method"],
        "seed": campaign["seed"],
        "at": f["labels"],
        "actual": actual,
        "predicted": f["total_labels"],
        "lo": total(lo),
        "hi": total(hi),
        "reason": f["reason"],
        "never": f["never"],
    }


def _score(records: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    known = [r for r in records if r["actual"] is not None and r["predicted"] is not None]
    errors = [abs(r["predicted"] - r["actual"]) for r in known]
    relative = [abs(r["predicted"] - r["actual"]) / r["actual"] for r in known]
    covered = [
        r
        for r in records
        if r["actual"] is not None
        and r["lo"] is not None
        and r["lo"] <= r["actual"]
        and (r["hi"] is None or r["actual"] <= r["hi"])
    ]
    censored = [r for r in records if r["actual"] is None]
    reached = len(records) - len(censored)
    return {
        "forecasts": len(records),
        "with_actual": sum(r["actual"] is not None for r in records),
        "median_abs_error": float(np.median(errors)) if errors else None,
        "median_rel_error": float(np.median(relative)) if relative else None,
        "interval_coverage": len(covered) / reached if reached else None,
        "no_estimate": sum(r["predicted"] is None and not r["never"] for r in records),
        "censored": len(censored),
        "censored_called_right": sum(
            r["never"] or (r["predicted"] is not None and r["predicted"] > budget) for r in censored
        ),
    }


def evaluate_forecasts(
    result: dict[str, Any], share: float = 0.95, fraction: float = 1 / 3
) -> dict[str, Any]:
    """Forecast at ``fraction`` of the budget from each alloop campaign's curve; compare with what happened.

    Campaigns that reached the target before the forecast point are skipped. ``interval_coverage`` is
    the share of campaigns that reached the target within the budget whose actual count fell inside the
    forecast interval; ``censored_called_right`` counts campaigns that never reached it whose forecast
    said "past the budget" or "never" (no forecast, e.g. on a curve that has not moved yet, is not a call).
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
