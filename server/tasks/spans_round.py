"""One model round of a spans project: fit the tagger, score the eval split by entity F1, rank the pool.

Called by :func:`alloop.loop.training.train_round` for ``task == "spans"``; records the version and
swaps the ranking exactly as a classification round does (:func:`alloop.loop.outcome.record_training`).
The stabilization stop compares whole answers: the share of pool texts, unlabeled under both models,
whose predicted spans are the same (``span_predictions.npz`` in the project's folder keeps each
round's predicted answers, also for suggestions).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from alloop.loop.outcome import Ranking, RoundWrite
from alloop.loop.snapshot import Snapshot
from alloop.loop.training import finish_round
from alloop.settings import Settings
from alloop.store.db import Store
from alloop.strategies.sequence import DEFAULT, rank_sequences
from alloop.tasks.spans import decode_spans
from alloop.tasks.spans_metrics import entity_scores

__all__ = ["FILE", "build_tagger", "read_span_predictions", "suggest_spans", "train_spans_round"]

FILE = "span_predictions.npz"


def build_tagger(project: Any, seed: int) -> Any:
    """The project's unfitted tagger (:class:`alloop.models.token_tagger.TokenTagger`)."""
    from alloop.models.tagger_config import tagger_config
    from alloop.models.token_tagger import TokenTagger

    return TokenTagger(project.labels, tagger_config(project.model["name"], project.model.get("params"), seed))


def _texts(snap: Snapshot, rows: np.ndarray) -> list[str]:
    return [snap.texts[int(r)] for r in rows]


def _answer(spans: list[dict[str, Any]]) -> str:
    return json.dumps(spans, separators=(",", ":"))


def _agreement(path: Path, pool_idx: np.ndarray, answers: np.ndarray) -> float | None:
    """Share of texts unlabeled under both models whose predicted answers are equal."""
    if not path.exists():
        return None
    with np.load(path) as old:
        _, new_pos, old_pos = np.intersect1d(pool_idx, old["idx"], assume_unique=True, return_indices=True)
        return float(np.mean(answers[new_pos] == old["answer"][old_pos])) if new_pos.size else None


def _save(path: Path, pool_idx: np.ndarray, answers: np.ndarray, version: int) -> None:
    order = np.argsort(pool_idx, kind="stable")
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, idx=pool_idx[order], answer=answers[order].astype(str), version=np.int64(version))
    os.replace(tmp, path)


_read: dict[Path, tuple[tuple[int, int], tuple[int, dict[int, str]]]] = {}


def read_span_predictions(folder: Path) -> tuple[int, dict[int, str]] | None:
    """(model version, predicted answer by item idx) of the newest round, or None before one; reread
    only when the file changes."""
    path = folder / FILE
    try:
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if path not in _read or _read[path][0] != key:
            with np.load(path) as saved:
                _read[path] = (key, (int(saved["version"]), dict(zip(saved["idx"].tolist(), saved["answer"].tolist()))))
    except (OSError, ValueError, KeyError):  # none yet, or replaced while being read: the next call rereads
        return None
    return _read[path][1]


def suggest_spans(folder: Path, claimed: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """``suggestion: {"label": [spans], "model_version"}`` on each served item the newest model predicted
    (a spans project with ``suggest`` on; the label can be sent back to /labels as it is)."""
    found = read_span_predictions(folder)
    if found is None:
        return
    version, answers = found
    for item, public in zip(claimed, items):
        if item["idx"] in answers:
            public["suggestion"] = {"label": json.loads(answers[item["idx"]]), "confidence": None,
                                    "model_version": version}


def train_spans_round(store: Store, settings: Settings, snap: Snapshot) -> RoundWrite:
    """Fit on every labeled text, evaluate (entity F1), predict the pool, rank it by the strategy."""
    project = snap.project
    started = time.perf_counter()
    version = snap.version + 1
    model = build_tagger(project, project.seed + version)
    model.fit(_texts(snap, snap.labeled_rows), [decode_spans(a) for a in snap.labeled_y])
    fit_seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {}
    if snap.eval_rows.size:
        predicted = model.predict_spans(_texts(snap, snap.eval_rows))
        metrics = entity_scores([decode_spans(a) for a in snap.eval_y], predicted, project.labels)
    probs = model.unit_probs(_texts(snap, snap.pool_rows))
    answers = np.asarray([_answer(s) for s in model.predict_spans([], probs)], dtype=object)
    spec = project.strategy
    rng = np.random.default_rng([project.seed, version])
    chosen, scores = rank_sequences(spec.get("name") or DEFAULT, probs.probs, probs.offsets, settings.queue_depth,
                                    rng=rng, params=spec.get("params"))
    agreement = None
    pdir = store.project_dir(project.id) if settings.round_files else None
    if pdir is not None:
        agreement = _agreement(pdir / FILE, snap.pool_idx, answers)
        _save(pdir / FILE, snap.pool_idx, answers, version)
    return finish_round(store, settings, snap, model, version, metrics, agreement, started, fit_seconds,
                        Ranking(project.id, snap.pool_idx[chosen], scores), spec["name"])
