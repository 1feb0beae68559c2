"""One training round of a multi-label project: fit per-label models, evaluate, rescore, rank, record.

The same round as :func:`alloop.loop.training.train_round` (what it reads, what it writes, how the
ranking lands and the stop rules run), with label sets: the snapshot's ``labeled_y`` and ``eval_y``
are (n, L) 0/1 matrices (:func:`alloop.tasks.multilabel.target_matrix`), the model gives one
probability per label (:mod:`alloop.models.multilabel`), the metrics are
:func:`alloop.tasks.multilabel_metrics.evaluate_multilabel`, and the strategy is a multi-label one
(:mod:`alloop.strategies.multilabel`). The pool predictions file holds each item's predicted label set
(``pred``, (n, L) uint8) and per-label probabilities (``conf``); two models agree on an item when
they predict the same set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from alloop import strategies
from alloop.loop.outcome import Ranking, RoundWrite
from alloop.loop.snapshot import Snapshot
from alloop.loop.training import finish_round, model_inputs, score_pool
from alloop.models.multilabel import build_multilabel
from alloop.settings import Settings
from alloop.store.db import Store
from alloop.store.predictions import FILE as PREDICTIONS_FILE
from alloop.tasks.multilabel_metrics import evaluate_multilabel

__all__ = ["agreement", "rank_pool", "save_label_sets", "train_multilabel_round"]


def save_label_sets(path: Path, pool_idx: np.ndarray, probs: np.ndarray, version: int) -> None:
    """Replace the predictions file at ``path`` (atomically): per item idx (sorted) its predicted set and
    per-label probabilities."""
    order = np.argsort(pool_idx, kind="stable")
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, idx=pool_idx[order], pred=(probs[order] > 0.5).astype(np.uint8),
             conf=probs[order].astype(np.float16), version=np.int64(version), multilabel=np.bool_(True))
    os.replace(tmp, path)


def agreement(path: Path, pool_idx: np.ndarray, probs: np.ndarray) -> float | None:
    """Share of items, unlabeled under both models, whose predicted label set the previous model (its
    saved predictions) predicted as well; None without a previous multi-label file."""
    if not path.exists():
        return None
    with np.load(path) as old:
        if "multilabel" not in old or old["pred"].ndim != 2 or old["pred"].shape[1] != probs.shape[1]:
            return None
        _, new_pos, old_pos = np.intersect1d(pool_idx, old["idx"], assume_unique=True, return_indices=True)
        if not new_pos.size:
            return None
        return float(np.mean(np.all((probs[new_pos] > 0.5) == old["pred"][old_pos].astype(bool), axis=1)))


def rank_pool(snap: Snapshot, probs: np.ndarray, labeled_probs: Any, depth: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(pool item idx, scores) of the strategy's ranking; ``labeled_probs`` is called when the strategy
    reads the model's probabilities on the labeled items (MMC)."""
    spec = snap.project.strategy
    needs = strategies.needs(spec["name"], spec.get("params"))
    with_embeddings = "embeddings" in needs or "labeled_embeddings" in needs
    inputs = strategies.StrategyInputs(
        probs=probs,
        embeddings=np.asarray(snap.X[snap.pool_rows]) if with_embeddings else None,
        labeled_embeddings=np.asarray(snap.X[snap.labeled_rows]) if with_embeddings else None,
        costs=snap.pool_costs if "costs" in needs else None,
        labeled_targets=snap.labeled_y,
        labeled_probs=labeled_probs() if "labeled_probs" in needs else None,
    )
    chosen, scores = strategies.rank(spec["name"], inputs, depth, rng=rng, params=spec.get("params"))
    return snap.pool_idx[chosen], scores


def train_multilabel_round(store: Store, settings: Settings, snap: Snapshot) -> RoundWrite:
    """Fit, evaluate, rescore and rank a multi-label project; the write records the version and swaps the queue."""
    project = snap.project
    started = time.perf_counter()
    version = snap.version + 1
    chunk = settings.score_chunk_rows
    model = build_multilabel(project.model, len(project.labels), project.seed + version)
    model.fit(model_inputs(snap, snap.labeled_rows), snap.labeled_y)
    fit_seconds = time.perf_counter() - started
    probs = score_pool(model, snap, snap.pool_rows, chunk)
    metrics = {}
    if snap.eval_rows.size:
        metrics = evaluate_multilabel(snap.eval_y, score_pool(model, snap, snap.eval_rows, chunk), project.labels)
    agreed = None
    pdir = store.project_dir(project.id) if settings.round_files else None
    if pdir is not None:
        agreed = agreement(pdir / PREDICTIONS_FILE, snap.pool_idx, probs)
        save_label_sets(pdir / PREDICTIONS_FILE, snap.pool_idx, probs, version)
    rng = np.random.default_rng([project.seed, version])
    ranked, scores = rank_pool(snap, probs, lambda: score_pool(model, snap, snap.labeled_rows, chunk),
                               settings.queue_depth, rng)
    return finish_round(store, settings, snap, model, version, metrics, agreed, started, fit_seconds,
                        Ranking(project.id, ranked, scores), project.strategy["name"])
