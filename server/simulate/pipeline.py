"""Run grids, summarize, and write every output into one folder.

Outputs: ``raw.json.gz`` (every campaign with its curve, to re-summarize without
rerunning), ``results.json`` (protocol, full-data references, per-method summaries with
confidence intervals, verdicts, forecast evaluation), ``curves.csv`` (every curve
point of every campaign), ``summary.csv``, ``results.md`` and one PNG per dataset
(plus ``overview.png`` when there are several).
"""

from __future__ import annotations

import gzip
import json
import platform
import time
from pathlib import Path
from typing import Any

from alloop.simulate import report
from alloop.simulate.datasets import load_dataset
from alloop.simulate.grid import Grid, run_grid
from alloop.simulate.peers import peer_jobs
from alloop.simulate.summary import BASELINE, evaluate_forecasts, summarize, verdicts

__all__ = ["RAW", "load_raw", "save_raw", "simulate", "write_outputs"]

RAW = "raw.json.gz"


def simulate(
    grids: list[Grid],
    *,
    workers: int = 1,
    peers: dict[str, tuple[str, ...]] | None = None,
    quiet: bool = False,
    workdir: str | None = None,
) -> list[dict[str, Any]]:
    """Run each grid (with the peers' loops on the same splits when ``peers`` names any)."""
    results = []
    for grid in grids:
        data = load_dataset(grid.data, quiet)  # text is encoded here, once, with its progress shown
        protocol = grid.protocol(data.protocol, int(data.y.size), len(data.labels))
        extra = []
        if peers:
            extra = peer_jobs(
                grid.data,
                protocol,
                grid.seeds,
                grid.batch_sizes or (protocol.batch_size,),
                grid.model_for(protocol),
                peers,
            )
        results.append(
            run_grid(grid, workers=workers, extra_jobs=extra, quiet=quiet, workdir=workdir)
        )
    return results


def _plot_methods(rows: list[dict[str, Any]], batch: int, limit_peers: bool) -> list[str]:
    """alloop's strategies, then each peer library's best (or every peer method)."""
    mine = [r["method"] for r in rows if r["batch_size"] == batch and r["source"] == "alloop"]
    peers = [r for r in rows if r["batch_size"] == batch and r["source"] != "alloop"]
    if limit_peers:
        best: dict[str, dict[str, Any]] = {}
        for r in peers:
            if r["source"] not in best or r["aubc"]["mean"] > best[r["source"]]["aubc"]["mean"]:
                best[r["source"]] = r
        peers = list(best.values())
    return mine + [r["method"] for r in peers]


def _overview_methods(verdict: dict[str, Any]) -> list[str]:
    return [m for m in (BASELINE, verdict.get("best_alloop"), verdict.get("best_peer")) if m]


def _machine() -> dict[str, Any]:
    import os

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "load_average": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


_DATASET_FIELDS = ("dataset", "kind", "encoder", "n_items", "protocol", "model", "cold_start", "seeds",
                   "batch_sizes", "references")  # fmt: skip


def _analyse(
    out: Path, result: dict[str, Any], share: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One dataset's rows and its entry (verdicts, forecast evaluation); draws its plots."""
    rows = summarize(result, share)
    calls = {str(b): verdicts(result, rows, b) for b in result["batch_sizes"]}
    entry = {k: result[k] for k in _DATASET_FIELDS}
    entry |= {"verdicts": calls, "forecast": evaluate_forecasts(result, share)}
    for batch in result["batch_sizes"]:
        methods = _plot_methods(rows, batch, True)
        report.plot_dataset(
            out / f"{result['dataset']}-b{batch}.png", result, methods, batch, share
        )
    return rows, entry


def write_outputs(
    out: Path,
    results: list[dict[str, Any]],
    *,
    share: float = 0.95,
    started: float | None = None,
    command: str | None = None,
    compact: bool = False,
) -> dict[str, Any]:
    """Summaries, verdicts, forecast evaluation; JSON, CSV, Markdown and PNGs under ``out``.

    ``compact`` (for committed results): ``curves.csv.gz`` and a slimmed ``raw.json.gz``.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows, datasets, panels = [], [], []
    for result in results:
        mine, entry = _analyse(out, result, share)
        rows += mine
        datasets.append(entry)
        first = result["batch_sizes"][0]
        panels.append((result, _overview_methods(entry["verdicts"][str(first)]), first))
    if len(panels) > 1:
        report.plot_overview(out / "overview.png", panels, share)
    seconds = None if started is None else time.time() - started
    payload = {"target_share": share, "command": command, "machine": _machine(), "seconds": seconds,
               "datasets": datasets, "rows": rows}  # fmt: skip
    report.write_json(out / "results.json", payload)
    save_raw(out, results, compact=compact)
    report.write_csv(out, results, rows, gz=compact)
    (out / "results.md").write_text(results_markdown(payload) + "\n", encoding="utf-8")
    return payload


def _verdict_lines(payload: dict[str, Any]) -> list[str]:
    lines = [
        (
            "| dataset | encoder | full-data acc. | best alloop (AUBC) | best peer (AUBC) | vs peer "
            "| vs random | labels vs random |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in payload["datasets"]:
        refs = [r["accuracy"] for r in d["references"]]
        for batch, v in d["verdicts"].items():
            if not v:
                continue
            ratio = v.get("label_ratio")
            lean = "–" if ratio is None else f"{ratio:.2f} ({v['leanest_alloop']})"
            lines.append(
                f"| {d['dataset']} (b={batch}) | {d['encoder'] or '–'} | {sum(refs) / len(refs):.3f} | "
                f"{v['best_alloop']} {v['aubc']['mean']:.3f} | "
                f"{v.get('best_peer', '–')} {v.get('peer_aubc', {}).get('mean', float('nan')):.3f} | "
                f"{v.get('vs_peer', {}).get('call', '–')} | {v.get('vs_random', {}).get('call', '–')} | {lean} |"
            )
    return lines


def _name(method: str) -> str:
    return method.removeprefix("alloop:")


def readme_lines(payload: dict[str, Any], fixed: tuple[str, ...] = ("margin", "tcm")) -> list[str]:
    """The README's results table: per dataset, random's labels to target beside alloop's leanest
    strategy and the best AUBCs; then what each of the ``fixed`` strategies alone needs of random's labels."""
    rows = {(r["dataset"], r["batch_size"], r["method"]): r for r in payload["rows"]}
    lines = [
        "| dataset | full-data acc. | random: labels to 95% | best alloop AUBC | best peer AUBC "
        "| leanest alloop: labels to 95% | saved vs random | labels ÷ random's | vs peer / vs random |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    alone: dict[str, list[str]] = {name: [] for name in fixed}
    for d in payload["datasets"]:
        refs = [r["accuracy"] for r in d["references"]]
        title = d["dataset"] + (" (MiniLM)" if d["encoder"] == "minilm" else "")
        for batch, v in d["verdicts"].items():
            if not v:
                continue
            random = rows.get((d["dataset"], int(batch), "alloop:random"), {})
            lean = v.get("leanest_alloop")
            lean_row = rows.get((d["dataset"], int(batch), lean), {}) if lean else {}
            ratio = None if v.get("label_ratio") is None else f"{v['label_ratio']:.2f}"
            shown = _name(lean) if lean else "–"
            if not lean:  # none reached the target on every seed: the one that did most often, marked
                mine = [r for (ds, b, m), r in rows.items()
                        if ds == d["dataset"] and b == int(batch) and r["source"] == "alloop" and m != "alloop:random"
                        and r["reached"] and (r.get("saved_vs_random") or {}).get("ratio") is not None]
                if mine:
                    lean_row = min(mine, key=lambda r: (-r["reached"], r["labels_to_target"]["mean"]))
                    shown = f"{_name(lean_row['method'])}, {lean_row['reached']}/{lean_row['seeds']} seeds"
                    ratio = f"{lean_row['saved_vs_random']['ratio']:.2f}*"
            lines.append(
                f"| {title} | {sum(refs) / len(refs):.3f} | {report.fmt_ci(random.get('labels_to_target'), digits=0)} | "
                f"{v['aubc']['mean']:.3f} ({_name(v['best_alloop'])}) | "
                f"{v.get('peer_aubc', {}).get('mean', float('nan')):.3f} ({v.get('best_peer', '–')}) | "
                f"{report.fmt_ci(lean_row.get('labels_to_target'), digits=0)} ({shown}) | "
                f"{report.fmt_pct((lean_row.get('saved_vs_random') or {}).get('share'))} | "
                f"{ratio or '–'} | "
                f"{v.get('vs_peer', {}).get('call', '–')} / {v.get('vs_random', {}).get('call', '–')} |"
            )
            for name in fixed:
                row = rows.get((d["dataset"], int(batch), f"alloop:{name}"))
                if row is None:
                    alone[name].append(f"{d['dataset']} not run")
                    continue
                reached = row["reached"] == row["seeds"] and random.get("reached") == random.get("seeds")
                value = (row["labels_to_target"]["mean"] / random["labels_to_target"]["mean"]) if reached else None
                alone[name].append(f"{d['dataset']} {'–' if value is None else f'{value:.2f}'}")
    lines.append("")
    lines.append("\\* no strategy reached the target on every seed within the budget: the one that did on most "
                 "seeds, its labels and ratio over the seeds where it and random both did.")
    lines.append("")
    lines.append(report.CI_NOTE)
    lines.append("")
    lines.append("Labels ÷ random's for each strategy fixed in advance (– where it missed the target on a seed): "
                 + "; ".join(f"{name}: " + ", ".join(values) for name, values in alone.items()) + ".")
    return lines


def _forecast_lines(payload: dict[str, Any]) -> list[str]:
    """One row per dataset: the forecasts by what happened (see
    :func:`~alloop.simulate.summary.evaluate_forecasts`), then what the columns count."""
    lines = [
        (
            "| dataset | forecasts | no estimate | reached within budget | median abs. error (labels) "
            "| median rel. error | interval coverage | open intervals | reached past budget, called right "
            "| never reached, called right |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in payload["datasets"]:
        f = d["forecast"]
        err = "–" if f["median_abs_error"] is None else f"{f['median_abs_error']:.0f}"
        rel = "–" if f["median_rel_error"] is None else f"{100 * f['median_rel_error']:.0f}%"
        cov = "–" if f["interval_coverage"] is None else f"{100 * f['interval_coverage']:.0f}%"
        lines.append(
            f"| {d['dataset']} | {f['forecasts']} | {f['no_estimate']} | {f['within_budget']} | {err} | {rel} | "
            f"{cov} ({f['covered']}/{f['with_interval']}) | {f['open_intervals']}/{f['with_interval']} | "
            f"{f['past_budget_called_right']}/{f['past_budget']} | {f['censored_called_right']}/{f['censored']} |"
        )
    lines.append("")
    lines.append(
        "Errors and coverage over the campaigns that reached the target within the budget, coverage over "
        "those whose forecast gave an interval; one with an open upper end ('possibly never') covers "
        "nothing and is also counted under open intervals. "
        "Reached past the budget (random runs on past it): called right only by a number past the budget "
        "(an estimate, or 'more than N labels'), not by 'never'. Never reached by the end of the run: called right by 'never' or a number "
        "past the run's end. A forecast with neither (too few points, a flat curve) makes no call: "
        "it counts as not right."
    )
    return lines


def results_markdown(payload: dict[str, Any]) -> str:
    """The verdict table, the per-method table (its interval marks explained below it) and the forecast
    table, as Markdown."""
    share = round(100 * payload["target_share"])
    parts = [
        (
            f"Target: {share}% of each seed's full-data accuracy. AUBC: mean eval accuracy over the label budget. "
            "Calls compare paired AUBC over seeds (win/loss: the 95% CI of the difference excludes 0). "
            "'labels vs random': mean labels to target of the leanest alloop strategy that reached it on every "
            "seed, over random's."
        ),
        "",
        *_verdict_lines(payload),
        "",
        "Protocol:",
        "",
        *(f"- {report.protocol_line(d)}" for d in payload["datasets"]),
        "",
        "Per method (mean [95% CI] over seeds):",
        "",
        report.markdown_table(payload["rows"]),
        "",
        report.CI_NOTE,
        "",
        "Forecast from the first third of the budget (inverse power law; median and 90% interval of simulated futures):",
        "",
        *_forecast_lines(payload),
    ]
    return "\n".join(parts)


def _compact(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without labeling orders and per-round timings, numbers to 5 decimals (about a tenth the size)."""
    keep = ("labels", "model_version", "accuracy", "macro_f1")
    return [
        {
            **r,
            "campaigns": [
                {
                    **{k: v for k, v in c.items() if k != "labeled"},
                    "curve": [
                        {
                            k: round(p[k], 5) if isinstance(p.get(k), float) else p.get(k)
                            for k in keep
                        }
                        for p in c["curve"]
                    ],
                }
                for c in r["campaigns"]
            ],
        }
        for r in results
    ]


def save_raw(folder: Path, results: list[dict[str, Any]], *, compact: bool = False) -> None:
    """Every campaign with its curve, gzipped JSON (a checkpoint, and the input of :func:`load_raw`)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with gzip.open(Path(folder) / RAW, "wt", encoding="utf-8") as handle:
        json.dump(
            report.clean(_compact(results) if compact else results), handle, separators=(",", ":")
        )


def load_raw(folder: Path) -> list[dict[str, Any]]:
    """The raw per-campaign results a previous :func:`write_outputs` left in ``folder``."""
    with gzip.open(Path(folder) / RAW, "rt", encoding="utf-8") as handle:
        return json.load(handle)
