"""Simulated span-labeling campaigns (``alloop simulate --task spans FOLDER``), through the server's own
store, controller, sequence strategies and tagger, as :mod:`alloop.simulate.runner` does for classification.

``FOLDER`` holds ``pool.jsonl`` and ``test.jsonl`` (``{"text", "spans": [{start, end, label}]}``, as
``tests/data/ner``). Each campaign is a spans project in a throwaway store: the pool is imported unlabeled,
the test split as eval items with their gold spans; the oracle answers every served text with its gold
spans; the campaign runs until its budget is spent. The curve is the store's own: entity F1 on the test
split after every retrain. Entity types are the labels found in the data, sorted.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_folder", "run_spans_campaign", "run_spans_command", "summarize"]


def load_folder(folder: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pool rows, test rows) of a folder with ``pool.jsonl`` and ``test.jsonl``."""
    folder = Path(folder)
    missing = [n for n in ("pool.jsonl", "test.jsonl") if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"{str(folder)!r}: a spans data folder holds pool.jsonl and test.jsonl; missing {missing}")
    read = lambda name: [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return read("pool.jsonl"), read("test.jsonl")


def run_spans_campaign(folder: str, strategy: str, seed: int, *, budget: int, batch_size: int,
                       model: dict[str, Any] | None = None) -> dict[str, Any]:
    """One campaign to its budget; ``{"strategy", "seed", "curve": [{labels, entity_f1, ...}], "seconds"}``."""
    from alloop.campaign import create_project
    from alloop.loop import Controller
    from alloop.schemas import ItemIn, LabelIn, ModelSpec, ProjectCreate, StrategySpec
    from alloop.settings import Settings
    from alloop.store import Store
    from alloop.store.db import write_blank
    from alloop.store.items import import_items
    from alloop.store.labels import submit_labels
    from alloop.store.rounds import curve
    from alloop.store.serving import claim_next

    pool, test = load_folder(folder)
    types = sorted({s["label"] for row in pool + test for s in row["spans"]})
    started = time.perf_counter()
    name, params = strategy.partition("[")[0], {}
    if "[" in strategy:  # token_entropy[aggregate=sum]
        params = dict(kv.split("=", 1) for kv in strategy[strategy.index("[") + 1: -1].split(","))
    with tempfile.TemporaryDirectory(prefix="alloop-sim-spans-") as tmp:
        settings = Settings(data_dir=Path(tmp), queue_depth=batch_size, synchronous="OFF", worker="thread",
                            round_files=False)
        write_blank(settings.data_dir / "alloop.db")
        store = Store(settings.data_dir, synchronous="OFF", journal_mode="MEMORY")
        try:
            body = ProjectCreate(
                name=f"sim-spans-{strategy}-s{seed}", labels=types, task="spans", input="text",
                model=ModelSpec(**(model or {"name": "token_tagger"})), strategy=StrategySpec(name=name, params=params),
                batch_size=batch_size, budget=budget, retrain_every=batch_size, seed=seed, cold_start="random",
                stabilize=None, max_stale_labels=None, dedup="off",
                encoder={"name": "hashing", "params": {"dim": 256}},  # vectors for the random cold start only
            )
            project = create_project(store, settings, body)
            import_items(store, project.id, "pool", [ItemIn(id=f"p{i}", text=r["text"]) for i, r in enumerate(pool)])
            import_items(store, project.id, "eval", [ItemIn(id=f"e{i}", text=r["text"], label=r["spans"])
                                                     for i, r in enumerate(test)])
            controller = Controller(store, settings)
            while True:
                controller.run_pending()
                if project.id in controller.errors:
                    raise RuntimeError(controller.errors[project.id])
                claim = claim_next(store, project.id, "oracle", batch_size, time.time())
                if claim["done"]:
                    break
                if not claim["items"]:
                    continue
                submit_labels(store, project.id, [
                    LabelIn(item_id=it["id"], label=pool[int(it["id"][1:])]["spans"], annotator="oracle")
                    for it in claim["items"]], time.time())
            controller.run_pending()
            with store.read() as conn:
                points = curve(conn, project.id)
        finally:
            store.close()
    keep = ("labels", "entity_f1", "entity_precision", "entity_recall")
    return {"strategy": strategy, "seed": seed, "curve": [{k: p.get(k) for k in keep} for p in points],
            "seconds": time.perf_counter() - started}


def _aubc(points: list[dict[str, Any]]) -> float:
    """Area under the F1-by-labels curve over its label range, divided by that range (the mean F1)."""
    x = np.asarray([p["labels"] for p in points], dtype=float)
    y = np.asarray([p["entity_f1"] for p in points], dtype=float)
    return float(y[0]) if x.size < 2 else float(np.trapezoid(y, x) / (x[-1] - x[0]))


def summarize(results: list[dict[str, Any]], at: list[int]) -> list[dict[str, Any]]:
    """Per strategy: mean (and std) entity F1 at the label counts ``at`` and AUBC, over seeds."""
    rows = []
    for strategy in dict.fromkeys(r["strategy"] for r in results):
        runs = [r for r in results if r["strategy"] == strategy]
        row: dict[str, Any] = {"strategy": strategy, "seeds": len(runs)}
        for n in at:
            values = [next((p["entity_f1"] for p in r["curve"] if p["labels"] == n), np.nan) for r in runs]
            row[f"f1@{n}"] = (float(np.nanmean(values)), float(np.nanstd(values)))
        aubc = [_aubc(r["curve"]) for r in runs]
        row["aubc"] = (float(np.mean(aubc)), float(np.std(aubc)))
        random_aubc = {r["seed"]: _aubc(r["curve"]) for r in results if r["strategy"] == "random"}
        paired = [(a, random_aubc[r["seed"]]) for a, r in zip(aubc, runs) if r["seed"] in random_aubc]
        row["beats_random"] = f"{sum(a > b for a, b in paired)}/{len(paired)}" if paired else None
        rows.append(row)
    return rows


def run_spans_command(folder: str, strategies: list[str], seeds: list[int], *, budget: int, batch_size: int,
                      workers: int, out: Path) -> list[dict[str, Any]]:
    """Every (strategy, seed) campaign, ``workers`` processes at a time; writes ``spans.json`` under ``out``
    and returns the summary rows (also printed)."""
    load_folder(folder)
    jobs = [(folder, s, seed) for seed in seeds for s in strategies]
    kwargs = {"budget": budget, "batch_size": batch_size}
    if workers <= 1:
        results = [run_spans_campaign(*job, **kwargs) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(run_spans_campaign, *job, **kwargs) for job in jobs]
            results = [f.result() for f in futures]
    at = sorted({batch_size, *[n for n in (50, 100, 200, 300, 400) if n < budget and n % batch_size == 0], budget})
    rows = summarize(results, at)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spans.json").write_text(json.dumps({"results": results, "summary": rows}, indent=1))
    header = ["strategy", *[f"f1@{n}" for n in at], "AUBC", "AUBC > random (seeds)"]
    print(" | ".join(header))
    for row in rows:
        cells = [f"{row[f'f1@{n}'][0]:.3f} ± {row[f'f1@{n}'][1]:.3f}" for n in at]
        print(" | ".join([row["strategy"], *cells, f"{row['aubc'][0]:.3f} ± {row['aubc'][1]:.3f}", str(row["beats_random"])]))
    return rows
