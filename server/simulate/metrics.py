"""Label-efficiency measures over learning curves, with confidence intervals over seeds.

A curve is a list of points ``{"labels", "accuracy", "macro_f1", ...}`` (the store's
:func:`alloop.store.rounds.curve`). AUBC is the area under the budget curve: the mean
of the metric over the label range ``[first point, budget]`` by the trapezoid rule,
so 1.0 is perfect and curves that stop early are held at their last value.
Confidence intervals (:func:`mean_ci`) are cut to the range their values can take and say
when they rest on fewer than ``FEW_SEEDS`` seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "FEW_SEEDS",
    "aubc",
    "interp_curve",
    "labels_to_reach",
    "mean_ci",
    "paired_savings",
    "value_at",
]

Curve = Sequence[dict[str, Any]]
Bounds = tuple[float | None, float | None]

FEW_SEEDS = 5  # below this many values a Student-t interval is flagged as unreliable


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


def mean_ci(
    values: Sequence[float | None], level: float = 0.95, bounds: Bounds | None = None
) -> dict[str, Any]:
    """Mean over seeds with a Student-t confidence interval, cut to the range the values can take.

    Parameters
    ----------
    values : one value per seed; None and NaN are dropped
    level : confidence level of the interval
    bounds : ``(lo, hi)`` no value can leave (either end None: open); the interval is clipped to it,
        which keeps its coverage (the true mean lies inside the bounds too)

    Returns
    -------
    dict
        ``mean``; ``lo`` and ``hi``, the interval after clipping; ``n``, the values used;
        ``lo_unclipped`` and ``hi_unclipped``, the t interval before clipping; ``clipped``, whether
        either end was cut; ``few_seeds``, whether ``n < FEW_SEEDS`` (a t interval from so few
        values is unreliable; one value gives the degenerate interval ``[mean, mean]``).

    Raises
    ------
    ValueError
        A value lies outside ``bounds``: the bounds are wrong for these values.
    """
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    floor, ceiling = _limits(bounds)
    _check_within(x, floor, ceiling)
    if x.size == 0:
        return _interval(math.nan, math.nan, math.nan, 0, floor, ceiling)
    mean = float(x.mean())
    if x.size == 1:
        return _interval(mean, mean, mean, 1, floor, ceiling)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return _interval(mean, mean - half, mean + half, int(x.size), floor, ceiling)


def _limits(bounds: Bounds | None) -> tuple[float, float]:
    """``bounds`` with open ends as infinities."""
    lo, hi = bounds if bounds is not None else (None, None)
    return (-math.inf if lo is None else float(lo)), (math.inf if hi is None else float(hi))


def _check_within(x: np.ndarray, floor: float, ceiling: float) -> None:
    """Raise when a value lies outside ``[floor, ceiling]`` by more than rounding."""
    slack = 1e-9 * max([1.0] + [abs(b) for b in (floor, ceiling) if math.isfinite(b)])
    outside = x[(x < floor - slack) | (x > ceiling + slack)]
    if outside.size:
        raise ValueError(f"value {outside[0]!r} lies outside the bounds [{floor}, {ceiling}]")


def _interval(
    mean: float, lo: float, hi: float, n: int, floor: float, ceiling: float
) -> dict[str, Any]:
    """The interval ``[lo, hi]`` clipped to ``[floor, ceiling]`` (never past the mean), with its flags."""
    cut_lo, cut_hi = lo, hi
    if n:
        cut_lo = min(max(lo, floor), mean)
        cut_hi = max(min(hi, ceiling), mean)
    return {
        "mean": mean,
        "lo": cut_lo,
        "hi": cut_hi,
        "n": n,
        "lo_unclipped": lo,
        "hi_unclipped": hi,
        "clipped": bool(n) and (cut_lo != lo or cut_hi != hi),
        "few_seeds": n < FEW_SEEDS,
    }


def paired_savings(
    needed: dict[int, int | None],
    baseline: dict[int, int | None],
    ranges: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Labels saved against the baseline, paired by seed: absolute and as a share of the baseline's.

    Seeds where either side never reached the target are left out and counted in ``censored``.
    ``ratio`` is the strategy's mean need over the baseline's (the issue's "at most 60%" is ratio <= 0.6).
    ``ranges``, the fewest and most labels each side's counts can take (``(mine, baseline's)``), bound
    the intervals; without it only the share's upper end (1: nothing left to label) is known.
    """
    seeds = sorted(
        s for s in needed if s in baseline and needed[s] is not None and baseline[s] is not None
    )
    saved = [baseline[s] - needed[s] for s in seeds]
    share = [1.0 - needed[s] / baseline[s] for s in seeds]
    mine = [needed[s] for s in seeds]
    theirs = [baseline[s] for s in seeds]
    ratio = (float(np.mean(mine)) / float(np.mean(theirs))) if seeds else math.nan
    labels_bounds, share_bounds = _saving_bounds(ranges)
    return {
        "labels": mean_ci(saved, bounds=labels_bounds),
        "share": mean_ci(share, bounds=share_bounds),
        "ratio": ratio,
        "seeds": len(seeds),
        "censored": len(set(needed) | set(baseline)) - len(seeds),
    }


def _saving_bounds(
    ranges: tuple[tuple[int, int], tuple[int, int]] | None,
) -> tuple[Bounds | None, Bounds]:
    """Bounds of labels saved (``baseline - mine``) and of the share saved (``1 - mine / baseline``)."""
    if ranges is None:
        return None, (None, 1.0)
    (mine_lo, mine_hi), (base_lo, base_hi) = ranges
    share_lo = 1.0 - mine_hi / base_lo if base_lo > 0 else None
    share_hi = 1.0 - mine_lo / base_hi if base_hi > 0 else 1.0
    return (base_lo - mine_hi, base_hi - mine_lo), (share_lo, min(share_hi, 1.0))
