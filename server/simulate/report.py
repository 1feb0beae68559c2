"""Write simulation results: JSON, CSV, PNG plots (matplotlib) and a Markdown table."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from alloop.simulate.grid import strategy_label
from alloop.simulate.metrics import FEW_SEEDS, interp_curve, mean_ci
from alloop.simulate.summary import BASELINE, targets

__all__ = [
    "CI_NOTE",
    "clean",
    "fmt_ci",
    "fmt_pct",
    "markdown_table",
    "plot_dataset",
    "plot_overview",
    "protocol_line",
    "write_csv",
    "write_json",
]

_SUMMARY_FIELDS = (
    "dataset",
    "batch_size",
    "method",
    "source",
    "seeds",
    "aubc",
    "aubc_lo",
    "aubc_hi",
    "aubc_macro_f1",
    "labels_to_target",
    "labels_lo",
    "labels_hi",
    "reached",
    "saved_share",
    "saved_lo",
    "saved_hi",
    "label_ratio",
    "seconds",
)


def clean(value: Any) -> Any:
    """NaN and infinity become null, numpy scalars plain numbers (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: Any) -> None:
    """Strict JSON (no NaN), indented."""
    path.write_text(json.dumps(clean(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")


_CURVE_FIELDS = ("dataset", "method", "batch_size", "seed", "labels", "accuracy", "macro_f1")
# summary.csv column -> (row key, statistic)
_SUMMARY_STATS = {
    "aubc": ("aubc", "mean"), "aubc_lo": ("aubc", "lo"), "aubc_hi": ("aubc", "hi"),
    "aubc_macro_f1": ("aubc_macro_f1", "mean"), "labels_to_target": ("labels_to_target", "mean"),
    "labels_lo": ("labels_to_target", "lo"), "labels_hi": ("labels_to_target", "hi"),
}  # fmt: skip


def _summary_line(r: dict[str, Any]) -> dict[str, Any]:
    saved = r.get("saved_vs_random", {})
    share = saved.get("share", {})
    line = {k: r[k] for k in ("dataset", "batch_size", "method", "source", "seeds", "reached")}
    line |= {column: r[key][stat] for column, (key, stat) in _SUMMARY_STATS.items()}
    line |= {"saved_share": share.get("mean"), "saved_lo": share.get("lo"), "saved_hi": share.get("hi"),
             "label_ratio": saved.get("ratio"), "seconds": round(r["seconds"], 3)}  # fmt: skip
    return clean(line)


def write_csv(
    folder: Path, results: list[dict[str, Any]], rows: list[dict[str, Any]], gz: bool = False
) -> None:
    """``curves.csv`` (one line per curve point; gzipped with ``gz``) and ``summary.csv`` (one per
    dataset x batch x method)."""
    name = "curves.csv.gz" if gz else "curves.csv"
    with (gzip.open if gz else open)(folder / name, "wt", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(_CURVE_FIELDS)
        for result in results:
            for c in result["campaigns"]:
                for p in c["curve"]:
                    out.writerow([result["dataset"], c["method"], c["batch_size"], c["seed"],
                                  p["labels"], f"{p['accuracy']:.5f}", f"{p['macro_f1']:.5f}"])  # fmt: skip
    with open(folder / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(_summary_line(r) for r in rows)


def _band(
    campaigns: list[dict[str, Any]], grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean accuracy and its 95% CI over seeds (cut to [0, 1]) at each label count of ``grid``."""
    values = np.vstack([interp_curve(c["curve"], grid) for c in campaigns])
    stats = [mean_ci(values[:, j].tolist(), bounds=(0.0, 1.0)) for j in range(grid.size)]
    return tuple(np.asarray([s[k] for s in stats], dtype=np.float64) for k in ("mean", "lo", "hi"))  # type: ignore[return-value]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax: Any, result: dict[str, Any], methods: list[str], batch: int, share: float) -> None:
    budget = result["protocol"]["budget"]
    grid = np.arange(result["protocol"]["initial"], budget + 1)
    for method in methods:
        runs = [
            c for c in result["campaigns"] if c["method"] == method and c["batch_size"] == batch
        ]
        if not runs:
            continue
        mean, lo, hi = _band(runs, grid)
        style = "-" if method.startswith("alloop:") else "--"
        width = 2.0 if method == BASELINE else 1.3
        (line,) = ax.plot(
            grid, mean, style, lw=width, label=method, color="black" if method == BASELINE else None
        )
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    goal = float(np.mean(list(targets(result, share).values())))
    full = goal / share
    ax.axhline(goal, color="grey", ls=":", lw=1)
    ax.axhline(full, color="grey", ls="-", lw=0.6)
    ax.set_xlim(grid[0], budget)
    ax.set_ylim(max(0.0, goal - 0.2), min(1.0, full + 0.03))
    ax.grid(alpha=0.3)


def plot_dataset(
    path: Path, result: dict[str, Any], methods: list[str], batch: int, share: float = 0.95
) -> None:
    """Accuracy vs labels, one curve per method (mean over seeds, its 95% CI shaded); the target
    dotted, full-data accuracy solid grey."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=90)
    _draw(ax, result, methods, batch, share)
    encoder = f", {result['encoder']} vectors" if result.get("encoder") else ""
    ax.set_title(
        f"{result['dataset']}{encoder}: batch {batch}, {len(result['seeds'])} seeds", fontsize=10
    )
    ax.set_xlabel("labels")
    ax.set_ylabel("eval accuracy")
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_overview(
    path: Path, panels: list[tuple[dict[str, Any], list[str], int]], share: float = 0.95
) -> None:
    """Small multiples: per dataset, random, the best alloop strategy and the best peer."""
    plt = _pyplot()
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows), dpi=80, squeeze=False)
    for ax, (result, methods, batch) in zip(axes.flat, panels):
        _draw(ax, result, methods, batch, share)
        ax.set_title(result["dataset"], fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.supxlabel("labels", fontsize=9)
    fig.supylabel("eval accuracy", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


CI_NOTE = (
    "‡: the 95% t interval reached past what the values can take and was cut there (AUBC and accuracy: "
    "0 to 1; labels to target: the method's initial labels to its last label count; share saved: at most "
    f"100%). (k seeds): the interval rests on fewer than {FEW_SEEDS} seeds, from which a t interval is "
    "unreliable; from 1 seed there is none."
)


def _empty(ci: dict[str, Any] | None) -> bool:
    return not ci or ci.get("n", 0) == 0 or ci.get("mean") is None or math.isnan(ci["mean"])


def _marks(ci: dict[str, Any]) -> str:
    """``‡`` after an interval cut to the possible range, ``(k seeds)`` after one from few seeds."""
    clipped = "‡" if ci.get("clipped") else ""
    few = f" ({ci['n']} seeds)" if ci.get("few_seeds") else ""
    return clipped + few


def fmt_ci(ci: dict[str, Any] | None, digits: int = 3, scale: float = 1.0) -> str:
    """``0.912 [0.905, 0.919]``, marked as in :data:`CI_NOTE` (``256 [20, 506]‡``,
    ``320 [20, 600]‡ (2 seeds)``); ``320 (1 seed)`` without an interval; a dash when there is nothing."""
    if _empty(ci):
        return "–"
    m, lo, hi = (ci[k] * scale for k in ("mean", "lo", "hi"))
    if ci["n"] == 1:
        return f"{m:.{digits}f} (1 seed)"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]{_marks(ci)}"


def fmt_pct(ci: dict[str, Any] | None) -> str:
    """A share as ``42% [30%, 55%]``, marked like :func:`fmt_ci`."""
    if _empty(ci):
        return "–"
    if ci["n"] == 1:
        return f"{100 * ci['mean']:.0f}% (1 seed)"
    return f"{100 * ci['mean']:.0f}% [{100 * ci['lo']:.0f}%, {100 * ci['hi']:.0f}%]{_marks(ci)}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The per-method table: AUBC, labels to target, share saved against random, all with 95% CIs."""
    lines = [
        "| dataset | batch | method | AUBC (accuracy) | labels to 95% of full | reached | saved vs random | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        saved = r.get("saved_vs_random", {})
        ratio = saved.get("ratio")
        lines.append(
            f"| {r['dataset']} | {r['batch_size']} | {r['method']} | {fmt_ci(r['aubc'])} | "
            f"{fmt_ci(r['labels_to_target'], 0)} | {r['reached']}/{r['seeds']} | "
            f"{fmt_pct(saved.get('share'))}{'*' if saved.get('censored') else ''} | "
            f"{'–' if ratio is None or math.isnan(ratio) else f'{ratio:.2f}'} |"
        )
    lines.append("")
    lines.append(
        "\\* over the seeds where both this method and random reached the target within their budgets."
    )
    return "\n".join(lines)


def _model_text(model: dict[str, Any] | str) -> str:
    """``svm[gamma=auto]`` plus its calibration and one-class rule where they differ from the defaults."""
    if isinstance(model, str):
        return model
    text = strategy_label(model["name"], model.get("params") or {})
    if model.get("calibration", "none") != "none":
        text += f", calibration {model['calibration']}"
    if not model.get("one_class_rescue", True):
        text += ", no one-class rescue"
    return text


def protocol_line(dataset: dict[str, Any]) -> str:
    """One line per dataset: the protocol its campaigns ran (model with parameters, split, budget, ...).

    Reads results written before the protocol record had every field (``--from-raw``) as well.
    """
    p = dataset["protocol"]
    first = f"{p['initial_per_class']} per class" if p.get("initial_per_class") else f"{p['initial']} random"
    budget = f"{p['budget']} (the whole pool)" if p.get("budget_all") else str(p["budget"])
    batches = dataset.get("batch_sizes") or p.get("batch_sizes") or [p.get("batch_size")]
    random_budget = p.get("random_budget") or max(p["budget"], round(p["budget"] * p.get("random_factor", 1.0)))
    return (
        f"{dataset['dataset']}: model {_model_text(dataset.get('model') or p['model'])}; eval {p['eval_size']}; "
        f"scale {p.get('scale', 'as loaded')}; first labels {first}; batch {', '.join(map(str, batches))}; "
        f"budget {budget}; random to {random_budget}; {len(dataset['seeds'])} seeds"
    )
