"""A grid of simulated campaigns (strategies x seeds x batch sizes), in parallel over cores.

Each job runs in a worker process (``spawn``: no inherited threads or connections) with
BLAS and OpenMP limited to one thread, since the parallelism is across campaigns; on a
2-core machine oversubscribed BLAS threads made a digits campaign ten times slower.
Workers load the dataset themselves (cached per process; text vectors from the disk
cache), so jobs pickle only a small :class:`~alloop.simulate.datasets.DataRef`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from alloop.simulate.datasets import DataRef, Protocol, eval_count, load_dataset, make_split
from alloop.simulate.progress import advance, progress_bar
from alloop.simulate.runner import CampaignSpec, run_campaign

__all__ = ["Grid", "Job", "campaign_job", "parse_strategy", "reference_job", "run_grid", "run_jobs", "split_strategies"]

def split_strategies(text: str) -> tuple[str, ...]:
    """``"margin,prefilter[diversify=typiclust,m=200]"`` -> the two entries."""
    return _split_top_level(text)


def _split_top_level(text: str) -> tuple[str, ...]:
    """``text`` split at commas outside brackets and braces, blank parts dropped."""
    entries, depth, current = [], 0, []
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            entries.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    entries.append("".join(current).strip())
    return tuple(e for e in entries if e)


def parse_strategy(entry: str) -> tuple[str, dict[str, Any]]:
    """``"prefilter[diversify=typiclust,m=200]"`` -> ``("prefilter", {"diversify": "typiclust", "m": 200})``.

    A value is read as JSON when it parses (numbers, true, null, objects such as
    ``then_params={"diversify":"typiclust","m_mult":20}``), else kept as a string.
    """
    name, bracket, rest = entry.strip().partition("[")
    if not bracket:
        return name.strip(), {}
    if not rest.endswith("]"):
        raise ValueError(f"{entry!r}: parameters go in one pair of brackets, name[key=value,...]")
    params: dict[str, Any] = {}
    for pair in _split_top_level(rest[:-1]):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{entry!r}: expected key=value, got {pair!r}")
        try:
            params[key.strip()] = json.loads(value.strip())
        except json.JSONDecodeError:
            params[key.strip()] = value.strip()
    return name.strip(), params


def strategy_label(name: str, params: dict[str, Any]) -> str:
    """The method's name in results: ``name``, or ``name[key=value,...]`` with its parameters."""
    if not params:
        return name
    shown = ",".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in params.items())
    return f"{name}[{shown}]"


@dataclass(frozen=True)
class Grid:
    """What to simulate on one dataset; ``None`` fields take the dataset's protocol.

    ``budget`` is a count or ``"all"`` (the whole pool); ``eval_size`` a count or a share below 1;
    ``scale`` ``"none"``, ``"all"`` or ``"train"``; ``initial_per_class`` replaces ``initial`` random
    first labels by that many of every class.
    """

    data: DataRef
    strategies: tuple[str, ...] = ("random", "margin")  # names, or name[key=value,...] with parameters
    seeds: tuple[int, ...] = (0, 1, 2)
    batch_sizes: tuple[int, ...] | None = None
    budget: int | str | None = None
    initial: int | None = None
    eval_size: float | None = None
    pool_size: int | None = None
    model: dict[str, Any] | None = None  # None: the protocol's model
    cold_start: str = "random"
    random_factor: float | None = None
    scale: str | None = None
    initial_per_class: int | None = None
    round_files: bool = False
    noise: float = 0.0  # share of pool items the oracle labels wrong (CampaignSpec.noise)
    review_share: float | None = None  # label-error review on, at this share (CampaignSpec.review)

    def protocol(self, base: Protocol, n_items: int, n_classes: int = 2) -> Protocol:
        """The dataset's protocol with this grid's overrides, for a dataset of ``n_items`` items in
        ``n_classes`` classes (``initial`` becomes ``initial_per_class`` times the classes)."""
        changes = {
            k: v
            for k, v in (
                ("initial", self.initial),
                ("eval_size", self.eval_size),
                ("pool_size", self.pool_size),
                ("random_factor", self.random_factor),
                ("scale", self.scale),
                ("initial_per_class", self.initial_per_class),
            )
            if v is not None
        }
        protocol = replace(base, **changes)
        if protocol.initial_per_class is not None:
            protocol = replace(protocol, initial=protocol.initial_per_class * n_classes)
        pool = n_items - eval_count(n_items, protocol.eval_size)
        if protocol.pool_size is not None:
            pool = min(pool, protocol.pool_size)
        budget = pool if self.budget == "all" else (self.budget or protocol.budget)
        if pool < 1:
            raise ValueError(f"{self.data.title()}: the eval split leaves no pool ({n_items} items)")
        return replace(protocol, budget=min(budget, pool) if self.budget == "all" else budget)

    def model_for(self, protocol: Protocol) -> dict[str, Any]:
        """``{"name", "params", ...}``: this grid's model, else the one the dataset's protocol names."""
        return dict(self.model) if self.model else {"name": protocol.model, "params": {}}

    def record(self, protocol: Protocol) -> dict[str, Any]:
        """The protocol every campaign of this grid ran, as results.json records it."""
        batches = list(self.batch_sizes or (protocol.batch_size,))
        return {
            **{k: v for k, v in asdict(protocol).items() if k != "batch_size"},
            "budget_all": self.budget == "all",
            "random_budget": _random_budget(protocol),
            "batch_sizes": batches,
            "model": self.model_for(protocol),
            "cold_start": self.cold_start,
            "retrain_every": "every batch",
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
        }


def _random_budget(protocol: Protocol) -> int:
    """Random sampling runs this long, so its labels-to-target is measured rather than censored."""
    return max(protocol.budget, round(protocol.budget * protocol.random_factor))


@dataclass(frozen=True)
class Job:
    """One unit of work for a worker: a module-level function and its (picklable) arguments."""

    key: tuple[Any, ...]
    fn: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]


def _limit_threads() -> None:
    """One BLAS / OpenMP thread per worker (the grid is parallel across campaigns)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def reference_job(
    ref: DataRef, protocol: Protocol, seed: int, model: dict[str, Any]
) -> dict[str, Any]:
    """Full-data reference: the model trained on the whole pool, scored on the eval split."""
    from alloop.models import build_model
    from alloop.loop.metrics import evaluate

    split = make_split(load_dataset(ref), seed, protocol)
    clf = build_model(model, len(split.labels), seed)
    clf.fit(split.X_pool, split.y_pool)
    metrics = evaluate(split.y_eval, clf.predict_proba(split.X_eval), split.labels)
    return {
        "seed": seed,
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "pool": int(split.y_pool.size),
        "eval": int(split.y_eval.size),
    }


def campaign_job(
    ref: DataRef, protocol: Protocol, spec: CampaignSpec, workdir: str | None
) -> dict[str, Any]:
    """One alloop campaign through the server's store and controller."""
    split = make_split(load_dataset(ref), spec.seed, protocol)
    result = run_campaign(split, spec, workdir=None if workdir is None else os.fspath(workdir))
    method = f"alloop:{strategy_label(spec.strategy, spec.strategy_params)}"
    return {"source": "alloop", "method": method, **spec.label(), **result}


@contextmanager
def _executor(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_limit_threads,
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_jobs(
    jobs: list[Job], *, workers: int = 1, description: str = "simulating", quiet: bool = False
) -> list[dict[str, Any]]:
    """Run every job (in ``workers`` processes; in this one when ``workers <= 1``) with a progress bar.

    Results come back in job order; a failing job raises once every job has been tried.
    """
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    errors: list[str] = []
    with progress_bar(quiet) as progress, _executor(workers) as pool:
        task = progress.add_task(description, total=len(jobs))
        if pool is None:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1):
                for i, job in enumerate(jobs):
                    results[i] = job.fn(*job.args)
                    advance(progress, task)
        else:
            futures: dict[Future[dict[str, Any]], int] = {
                pool.submit(j.fn, *j.args): i for i, j in enumerate(jobs)
            }
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # noqa: BLE001  (collected, raised below after the rest)
                    errors.append(f"{jobs[i].key}: {type(exc).__name__}: {exc}")
                advance(progress, task)
    if errors:
        raise RuntimeError(f"{len(errors)} simulation job(s) failed; first: {errors[0]}")
    return [r for r in results if r is not None]


def grid_jobs(grid: Grid, protocol: Protocol, workdir: str | None = None) -> list[Job]:
    """The reference jobs (one per seed) and the campaign jobs of a grid."""
    model = grid.model_for(protocol)
    jobs = [
        Job(("reference", s), reference_job, (grid.data, protocol, s, model))
        for s in grid.seeds
    ]
    for batch in grid.batch_sizes or (protocol.batch_size,):
        for entry in grid.strategies:
            strategy, params = parse_strategy(entry)
            budget = _random_budget(protocol) if strategy == "random" else protocol.budget
            for seed in grid.seeds:
                spec = CampaignSpec(
                    strategy=strategy,
                    strategy_params=params,
                    seed=seed,
                    batch_size=batch,
                    budget=budget,
                    initial=protocol.initial,
                    initial_per_class=protocol.initial_per_class,
                    cold_start=grid.cold_start,
                    model=dict(model),
                    round_files=grid.round_files,
                    noise=grid.noise,
                    review=None if grid.review_share is None else {"share": grid.review_share},
                )
                jobs.append(
                    Job(
                        ("campaign", entry, batch, seed),
                        campaign_job,
                        (grid.data, protocol, spec, workdir),
                    )
                )
    return jobs


def run_grid(
    grid: Grid,
    *,
    workers: int = 1,
    extra_jobs: list[Job] | None = None,
    quiet: bool = False,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Run a grid (plus ``extra_jobs``, e.g. peers, on the same splits); returns the raw results.

    The dataset is loaded here first, so text is encoded once before the workers start.
    """
    data = load_dataset(grid.data, quiet)
    protocol = grid.protocol(data.protocol, int(data.y.size), len(data.labels))
    jobs = grid_jobs(grid, protocol, workdir) + list(extra_jobs or [])
    results = run_jobs(jobs, workers=workers, description=f"{data.name}", quiet=quiet)
    references = [r for job, r in zip(jobs, results) if job.key[0] == "reference"]
    campaigns = [r for job, r in zip(jobs, results) if job.key[0] != "reference"]
    return {
        "dataset": data.name,
        "kind": data.kind,
        "encoder": data.encoder,
        "n_items": int(data.y.size),
        "labels": data.labels,
        "protocol": grid.record(protocol),
        "model": grid.model_for(protocol),
        "cold_start": grid.cold_start,
        "seeds": list(grid.seeds),
        "batch_sizes": list(grid.batch_sizes or (protocol.batch_size,)),
        "references": references,
        "campaigns": campaigns,
    }
