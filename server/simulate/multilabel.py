"""Simulated multi-label campaigns: the server's own store, controller and strategies, label sets from an oracle.

The same protocol as :mod:`alloop.simulate.runner` (a throwaway store, ``claim_next`` -> the oracle's
answers -> ``submit_labels`` -> ``Controller.run_pending()`` until the budget is spent; a random cold
start of ``initial`` items, then one retrain per batch), with a multi-label project: the oracle
answers each item with its true label set. Datasets (:data:`CATALOG`):

- ``multilabel_synthetic``: scikit-learn's ``make_multilabel_classification(n_samples=2000,
  n_features=40, n_classes=8, n_labels=2, allow_unlabeled=True, random_state=0)``: 2,000 items, 40
  features, 8 labels, label cardinality about 1.9 (:func:`describe` reports the exact figures),
  some items with no label at all;
- ``yeast``: the Yeast gene-function set (Elisseeff & Weston, 2001; MULAN's version: 2,417 genes, 103
  features, 14 labels, cardinality 4.24), as the ``river`` package ships it (``river/datasets/yeast.csv.gz``,
  read from the installed package; nothing is downloaded: ``pip install 'alloop[multilabel-data]'``).

Each seed draws its own eval split (``eval_size`` items) and pool; features are standardized over the
whole set. The figures are micro-F1 on the eval split at the end of the budget and AUBC, the normalized
area under the micro-F1 budget curve (:func:`alloop.simulate.metrics.aubc`), mean over seeds with a
95% t interval.
"""

from __future__ import annotations

import csv
import gzip
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alloop.campaign import create_project
from alloop.loop import Controller
from alloop.schemas import ItemIn, LabelIn
from alloop.settings import Settings
from alloop.simulate.metrics import aubc, mean_ci
from alloop.simulate.runner import CampaignSpec, SimulationFailed, _body, _check
from alloop.store import Store
from alloop.store.db import write_blank
from alloop.store.items import import_items
from alloop.store.labels import submit_labels
from alloop.store.rounds import curve
from alloop.store.serving import WAITABLE, claim_next
from alloop.tasks.multilabel import label_sets

__all__ = ["CATALOG", "MultiLabelSet", "describe", "load_multilabel_set", "run_grid", "run_multilabel_campaign"]

ORACLE = "oracle"
METRICS = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss")


@dataclass(frozen=True)
class MultiLabelSet:
    """Features, an (n, L) 0/1 label matrix, label names, and the protocol the figures use."""

    name: str
    X: np.ndarray
    Y: np.ndarray
    labels: list[str]
    eval_size: int = 500
    budget: int = 300
    initial: int = 20
    batch_size: int = 20


def _synthetic() -> MultiLabelSet:
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=2000, n_features=40, n_classes=8, n_labels=2,
                                          allow_unlabeled=True, random_state=0)
    return MultiLabelSet("multilabel_synthetic", X.astype(np.float64), Y.astype(np.int8),
                         [f"L{j}" for j in range(8)])


def _yeast() -> MultiLabelSet:
    from importlib.resources import files
    from importlib.util import find_spec

    if find_spec("river") is None:
        raise ImportError("the yeast set is read from the river package: pip install 'alloop[multilabel-data]'")
    path = files("river.datasets") / "yeast.csv.gz"
    with gzip.open(str(path), "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    features = [k for k, name in enumerate(header) if name.startswith("Att")]
    targets = [k for k, name in enumerate(header) if name.startswith("Class")]
    X = np.asarray([[float(r[k]) for k in features] for r in body])
    Y = np.asarray([[r[k] == "1" for k in targets] for r in body], dtype=np.int8)
    return MultiLabelSet("yeast", X, Y, [header[k] for k in targets])


CATALOG = {"multilabel_synthetic": _synthetic, "yeast": _yeast}


def load_multilabel_set(name: str) -> MultiLabelSet:
    """A catalog set, features standardized over the whole set."""
    if name not in CATALOG:
        raise ValueError(f"unknown multi-label dataset {name!r}; known: {', '.join(CATALOG)}")
    data = CATALOG[name]()
    std = data.X.std(axis=0)
    X = (data.X - data.X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return MultiLabelSet(data.name, X.astype(np.float32), data.Y, data.labels, data.eval_size, data.budget,
                         data.initial, data.batch_size)


def describe(data: MultiLabelSet) -> dict[str, Any]:
    """Items, features, labels, label cardinality and density, share of items with no label."""
    per_item = data.Y.sum(axis=1)
    return {"dataset": data.name, "items": int(data.X.shape[0]), "features": int(data.X.shape[1]),
            "labels": len(data.labels), "cardinality": round(float(per_item.mean()), 3),
            "density": round(float(per_item.mean() / len(data.labels)), 3),
            "empty_share": round(float((per_item == 0).mean()), 3)}


def _split(data: MultiLabelSet, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pool rows, eval rows) for one seed."""
    order = np.random.default_rng([seed, 2009]).permutation(data.X.shape[0])
    return order[data.eval_size:], order[: data.eval_size]


def _answer(store: Store, project_id: int, data: MultiLabelSet, pool: np.ndarray, item_ids: list[str]) -> None:
    """The oracle answers pool items ``p<k>`` with their true label sets."""
    sets = label_sets(data.labels, data.Y[[pool[int(i[1:])] for i in item_ids]])
    submit_labels(store, project_id, [LabelIn(item_id=i, label=s, annotator=ORACLE) for i, s in zip(item_ids, sets)],
                  time.time())


def _drive(store: Store, controller: Controller, project_id: int, data: MultiLabelSet, pool: np.ndarray,
           spec: CampaignSpec) -> str:
    n = spec.initial
    controller.run_pending()  # the cold start
    _check(controller, project_id)
    while True:
        claim = claim_next(store, project_id, ORACLE, n, time.time())
        if claim["done"]:
            return str(claim["reason"])
        if not claim["items"] and claim["waiting"] in WAITABLE:
            controller.run_pending()
            _check(controller, project_id)
            claim = claim_next(store, project_id, ORACLE, n, time.time())
        if not claim["items"]:
            raise SimulationFailed(f"the server served nothing to a running campaign ({claim['waiting']})")
        _answer(store, project_id, data, pool, [item["id"] for item in claim["items"]])
        controller.run_pending()
        _check(controller, project_id)
        n = spec.batch_size


def run_multilabel_campaign(data: MultiLabelSet, spec: CampaignSpec) -> dict[str, Any]:
    """One campaign to the end of its budget in a temporary store; its micro-F1 curve and stop reason."""
    started = time.perf_counter()
    pool, evals = _split(data, spec.seed)
    with tempfile.TemporaryDirectory(prefix="alloop-simml-") as tmp:
        settings = Settings(data_dir=Path(tmp), queue_depth=spec.batch_size, synchronous="OFF", worker="thread",
                            round_files=False)
        write_blank(settings.data_dir / "alloop.db")
        store = Store(settings.data_dir, synchronous=settings.synchronous, journal_mode="MEMORY")
        try:
            body = _body(spec, data.labels).model_copy(update={"task": "multilabel"})
            project = create_project(store, settings, body)
            import_items(store, project.id, "pool", [ItemIn(id=f"p{k}", features=data.X[row].tolist())
                                                     for k, row in enumerate(pool)])
            gold = label_sets(data.labels, data.Y[evals])
            import_items(store, project.id, "eval", [ItemIn(id=f"e{k}", features=data.X[row].tolist(), label=g)
                                                     for k, (row, g) in enumerate(zip(evals, gold))])
            reason = _drive(store, Controller(store, settings), project.id, data, pool, spec)
            with store.read() as conn:
                points = curve(conn, project.id)
        finally:
            store.close()
    return {"curve": [{k: p.get(k) for k in ("labels", *METRICS)} for p in points], "stop_reason": reason,
            "seconds": time.perf_counter() - started}


def _one(job: tuple[str, CampaignSpec]) -> dict[str, Any]:
    name, spec = job
    result = run_multilabel_campaign(load_multilabel_set(name), spec)
    return {"dataset": name, "strategy": spec.strategy, "seed": spec.seed, **result}


def run_grid(name: str, strategies: list[str], seeds: list[int], *, model: dict[str, Any] | None = None,
             budget: int | None = None, batch_size: int | None = None, initial: int | None = None,
             workers: int = 1) -> dict[str, Any]:
    """Every strategy x seed on one set; per strategy the mean final micro-F1 and AUBC with 95% intervals."""
    data = load_multilabel_set(name)
    budget, batch = budget or data.budget, batch_size or data.batch_size
    specs = [CampaignSpec(strategy=s, seed=seed, batch_size=batch, budget=budget, initial=initial or data.initial,
                          model=model or {"name": "logistic_regression", "params": {}})
             for s in strategies for seed in seeds]
    jobs = [(name, spec) for spec in specs]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            runs = list(pool.map(_one, jobs))
    else:
        runs = [_one(job) for job in jobs]
    rows = []
    for strategy in strategies:
        mine = [r for r in runs if r["strategy"] == strategy]
        rows.append({
            "strategy": strategy, "seeds": len(mine),
            "micro_f1": mean_ci([r["curve"][-1]["micro_f1"] for r in mine], bounds=(0, 1)),
            "aubc": mean_ci([aubc(r["curve"], budget, "micro_f1") for r in mine], bounds=(0, 1)),
            "macro_f1": mean_ci([r["curve"][-1]["macro_f1"] for r in mine], bounds=(0, 1)),
            "subset_accuracy": mean_ci([r["curve"][-1]["subset_accuracy"] for r in mine], bounds=(0, 1)),
        })
    return {"data": describe(data), "budget": budget, "batch_size": batch, "initial": initial or data.initial,
            "model": specs[0].model, "rows": rows, "runs": runs}


def markdown(result: dict[str, Any]) -> str:
    """The grid's table in Markdown."""
    from alloop.simulate.report import fmt_ci

    d = result["data"]
    lines = [
        f"{d['dataset']}: {d['items']} items, {d['features']} features, {d['labels']} labels, cardinality "
        f"{d['cardinality']}, {d['empty_share']:.1%} with no label; eval 500 per seed, budget {result['budget']}, "
        f"{result['initial']} random first, batch {result['batch_size']}, model {result['model']['name']}.",
        "",
        "| strategy | seeds | micro-F1 at budget | AUBC (micro-F1) | macro-F1 | subset accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['strategy']} | {r['seeds']} | {fmt_ci(r['micro_f1'])} | {fmt_ci(r['aubc'])} | "
                     f"{fmt_ci(r['macro_f1'])} | {fmt_ci(r['subset_accuracy'])} |")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> None:
    """``multilabel-<dataset>.json`` (every run's curve) and ``.md`` (the table) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"multilabel-{result['data']['dataset']}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(result))


def run_command(sources: list[str], *, strategies: str, seeds: tuple[int, ...], budget: int | str | None,
                batch_sizes: tuple[int, ...] | None, initial: int | None, model: dict[str, Any] | None, workers: int,
                out: Path) -> list[dict[str, Any]]:
    """``alloop simulate`` on multi-label sets: the table of each set printed, JSON and Markdown under ``out``.

    ``strategies`` left at the classification default (``random,margin``) runs random against the default
    multi-label strategy.
    """
    from alloop.strategies import registry
    from alloop.tasks.multilabel_config import DEFAULT_STRATEGY

    unknown = [s for s in sources if s not in CATALOG]
    if unknown:
        raise ValueError(f"{unknown}: a multi-label simulation takes multi-label sets only ({', '.join(CATALOG)})")
    if strategies == "random,margin":
        strategies = f"random,{DEFAULT_STRATEGY}"
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    for name in names:
        registry.check_task(name, "multilabel")
    if isinstance(budget, str) or (batch_sizes and len(batch_sizes) > 1):
        raise ValueError("a multi-label simulation takes one numeric --budget and one --batch-sizes value")
    results = []
    for source in sources:
        result = run_grid(source, names, list(seeds), model=model, budget=budget,
                          batch_size=batch_sizes[0] if batch_sizes else None, initial=initial, workers=workers)
        write(result, out)
        print(markdown(result))
        results.append(result)
    return results
