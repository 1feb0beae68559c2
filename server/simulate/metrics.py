"""Label-efficiency measures over learning curves, with confidence intervals over seeds.

A curve is a list of points ``{"labels", "accuracy", "macro_f1", ...}`` (the store's
:func:`alloop.store.rounds.curve`). AUBC is the area under the budget curve: the mean
of the metric over the label range ``[first point, budget]`` by the trapezoid rule,
so 1.0 is perfect and curves that stop early are held at their last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["aubc", "interp_curve", "labels_to_reach", "mean_ci", "paired_savings", "value_at"]

Curve = Sequence[dict[str, Any]]


def _xy(curve: Curve, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and metric values, one per label count (the last model at that count wins)."""
    by_n = {int(p["labels"]): float(p[metric]) for p in curve if p.get(metric) is not None}
    n = np.asarray(sorted(by_n), dtype=np.float64)
    return n, np.asarray([by_n[int(k)] for k in n], dtype=np.float64)


def interp_curve(curve: Curve, grid: np.ndarray, metric: str = "accuracy") -> np.ndarray:
    """The metric at each label count of ``grid`` (step-wise: the newest model at or below it; NaN before)."""
    n, v = _xy(curve, metric)
    pos = np.searchsorted(n, grid, side="right") - 1
    out = np.where(pos >= 0, v[np.clip(pos, 0, None)] if v.size else np.nan, np.nan)
    return out.astype(np.float64)


def aubc(curve: Curve, budget: int, metric: str = "accuracy") -> float:
    """Normalized area under the budget curve over ``[first labels, budget]``, in [0, 1].

    Parameters
    ----------
    curve : learning-curve points
    budget : right end of the range; points past it are ignored, a curve short of it is held flat
    metric : ``"accuracy"`` or ``"macro_f1"``
    """
    n, v = _xy(curve, metric)
    keep = n <= budget
    n, v = n[keep], v[keep]
    if n.size == 0:
        return math.nan
    if n[-1] < budget:
        n, v = np.append(n, budget), np.append(v, v[-1])
    if n[-1] == n[0]:
        return float(v[0])
    return float(np.trapezoid(v, n) / (n[-1] - n[0]))


def labels_to_reach(curve: Curve, threshold: float, metric: str = "accuracy") -> int | None:
    """Fewest labels at which the metric is at least ``threshold``; None if never within the curve."""
    n, v = _xy(curve, metric)
    hit = np.nonzero(v >= threshold - 1e-12)[0]
    return int(n[hit[0]]) if hit.size else None


def value_at(curve: Curve, labels: int, metric: str = "accuracy") -> float:
    """The metric of the newest model trained on at most ``labels`` labels (NaN before the first)."""
    return float(interp_curve(curve, np.asarray([labels]), metric)[0])


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float | int]:
    """Mean with a Student-t confidence interval over seeds (NaNs dropped); ``n`` values used."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    mean = float(x.mean())
    if x.size == 1:
        return {"mean": mean, "lo": mean, "hi": mean, "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": int(x.size)}


def paired_savings(
    needed: dict[int, int | None], baseline: dict[int, int | None]
) -> dict[str, Any]:
    """Labels saved against the baseline, paired by seed: absolute and as a share of the baseline's.

    Seeds where either side never reached the target are left out and counted in ``censored``.
    ``ratio`` is the strategy's mean need over the baseline's (the issue's "at most 60%" is ratio <= 0.6).
    """
    seeds = sorted(
        s for s in needed if s in baseline and needed[s] is not None and baseline[s] is not None
    )
    saved = [baseline[s] - needed[s] for s in seeds]
    share = [1.0 - needed[s] / baseline[s] for s in seeds]
    mine = [needed[s] for s in seeds]
    theirs = [baseline[s] for s in seeds]
    ratio = (float(np.mean(mine)) / float(np.mean(theirs))) if seeds else math.nan
    return {
        "labels": mean_ci(saved),
        "share": mean_ci(share),
        "ratio": ratio,
        "seeds": len(seeds),
        "censored": len(set(needed) | set(baseline)) - len(seeds),
    }
