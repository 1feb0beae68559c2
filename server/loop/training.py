"""One round of the loop: fit on the labels, evaluate, rescore the pool, rank, record.

Everything heavy runs outside the writer lock on a snapshot, in whichever process runs
rounds; only the final record (model version, queue swap, stop decision) is one short write
transaction, made by the server's store (see :class:`RoundWrite`).
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from alloop import distributed, strategies
from alloop.loop.coldstart import cold_start_order
from alloop.loop.metrics import evaluate
from alloop.loop.outcome import Ranking, RoundWrite, record_cold_start, record_training
from alloop.loop.snapshot import Snapshot
from alloop.models import build_model
from alloop.settings import Settings
from alloop.store.db import Store
from alloop.store.predictions import FILE as PREDICTIONS_FILE
from alloop.store.predictions import save_predictions
from alloop.store.projects import Project
from alloop.store.reviews import replaced_count, review_settings
from alloop.store.serving import COLD_START

log = logging.getLogger("alloop.loop")

__all__ = ["RoundWrite", "Snapshot", "cold_start_round", "eval_metrics", "pool_outputs", "score_pool", "train_round"]


def model_inputs(snap: Snapshot, rows: np.ndarray) -> Any:
    """What the model reads for these feature rows: vectors, or the items' texts."""
    if snap.texts is not None:
        return [snap.texts[int(r)] for r in rows]
    return np.asarray(snap.X[rows])


def _chunks(snap: Snapshot, rows: np.ndarray, chunk: int) -> Iterator[Any]:
    """The model's inputs for ``rows``, ``chunk`` rows at a time (read as they are asked for)."""
    for start in range(0, rows.size, chunk):
        yield model_inputs(snap, rows[start : start + chunk])


def _on_cluster(kind: str, model: Any, snap: Snapshot, rows: np.ndarray, chunk: int) -> list[Any] | None:
    """Each chunk's ``kind`` ("outputs" or "samples") computed on the Ray cluster, when one is configured
    and the pool has more than one chunk; None: compute them here (also when the cluster fails)."""
    pool = distributed.cluster() if rows.size > chunk else None
    if pool is None:
        return None
    try:
        return getattr(pool, kind)(model, _chunks(snap, rows, chunk))
    except distributed.ClusterUnavailable as exc:  # the round goes on here; the log says why
        distributed.failed(exc)
        return None


def score_pool(model: Any, snap: Snapshot, rows: np.ndarray, chunk: int) -> np.ndarray:
    """(len(rows), C) float32 probabilities, predicted ``chunk`` rows at a time."""
    return pool_outputs(model, snap, rows, chunk)[0]


def pool_outputs(model: Any, snap: Snapshot, rows: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities, and the decision values of a model in decision mode (else None), ``chunk`` rows at a time.

    A model in decision mode (an uncalibrated SVM) is asked once: its probabilities are the softmax
    of the same decision values.
    """
    parts = _on_cluster("outputs", model, snap, rows, chunk)
    if parts is not None:  # one task per chunk on the cluster, gathered in pool order
        probs = np.concatenate([p for p, _ in parts])
        return probs, (np.concatenate([d for _, d in parts]) if parts[0][1] is not None else None)
    probs = np.empty((rows.size, model.n_classes), dtype=np.float32)
    if not getattr(model, "decision_mode", False):
        for start in range(0, rows.size, chunk):
            probs[start : start + chunk] = model.predict_proba(model_inputs(snap, rows[start : start + chunk]))
        return probs, None
    decisions = np.empty((rows.size, model.n_classes), dtype=np.float64)
    for start in range(0, rows.size, chunk):
        decisions[start : start + chunk] = model.decisions(model_inputs(snap, rows[start : start + chunk]))
        probs[start : start + chunk] = model.probs_from_decisions(decisions[start : start + chunk])
    return probs, decisions


def eval_metrics(
    model: Any, snap: Snapshot, labels: list[str], chunk: int, predicted: np.ndarray | None = None
) -> dict[str, Any]:
    """Eval-split metrics; predictions from the model's own ``predict`` where it has one (an SVM's vote), or
    ``predicted``, the eval split's predictions already made with the pool's scores (:func:`_pool_and_eval`)."""
    if snap.eval_rows.size == 0:
        return {}
    if predicted is not None:
        return evaluate(snap.eval_y, None, labels, predicted=predicted)
    X = model_inputs(snap, snap.eval_rows)
    if hasattr(model, "predict") and not isinstance(X, list):
        return evaluate(snap.eval_y, None, labels, predicted=model.predict(X))
    return evaluate(snap.eval_y, score_pool(model, snap, snap.eval_rows, chunk), labels)


def _agreement(path: Path, pool_idx: np.ndarray, preds: np.ndarray) -> float | None:
    """Share of items, unlabeled under both models, on which the previous model (its saved
    predictions, :mod:`alloop.store.predictions`) agreed."""
    agreement = None
    if path.exists():
        with np.load(path) as old:
            _, new_pos, old_pos = np.intersect1d(pool_idx, old["idx"], assume_unique=True, return_indices=True)
            if new_pos.size:
                agreement = float(np.mean(preds[new_pos] == old["pred"][old_pos]))
    return agreement


def sample_pool(model: Any, snap: Snapshot, rows: np.ndarray, chunk: int) -> np.ndarray:
    """(S, len(rows), C) float32 sampled probabilities (MC dropout passes or ensemble members), by chunks."""
    if not hasattr(model, "sample_proba"):
        raise ValueError(f"the strategy needs sampled probabilities, which {type(model).__name__} does not give")
    parts = _on_cluster("samples", model, snap, rows, chunk)
    if parts is None:
        parts = [model.sample_proba(inputs) for inputs in _chunks(snap, rows, chunk)]
    return np.concatenate(parts, axis=1) if parts else np.empty((0, 0, model.n_classes), dtype=np.float32)


def _rank(snap: Snapshot, probs: np.ndarray, depth: int, rng: strategies.SeededGenerator,
          samples: Callable[[], np.ndarray] | None = None,
          decisions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    spec = snap.project.strategy
    needs = strategies.needs(spec["name"], spec.get("params"))
    # Diversity strategies measure distance to what is already labeled (core-set centers, ranked
    # batch's similarity term) whenever they read embeddings: the labeled ones always come along.
    with_embeddings = "embeddings" in needs or "labeled_embeddings" in needs
    inputs = strategies.StrategyInputs(
        probs=probs,
        embeddings=np.asarray(snap.X[snap.pool_rows]) if with_embeddings else None,
        labeled_embeddings=np.asarray(snap.X[snap.labeled_rows]) if with_embeddings else None,
        samples=samples() if "samples" in needs and samples is not None else None,
        costs=snap.pool_costs if "costs" in needs else None,
        decisions=decisions,
    )
    chosen, scores = strategies.rank(spec["name"], inputs, depth, rng=rng, params=spec.get("params"))
    return snap.pool_idx[chosen], scores


IMAGE_CHUNK_BYTES = 64 * 1024 * 1024
"""Image projects score at most this many bytes of pixels at a time (rows of 64k values: 256 rows)."""


def _chunk(snap: Snapshot, settings: Settings) -> int:
    """Pool rows scored per chunk: the setting, and for image projects no more than
    :data:`IMAGE_CHUNK_BYTES` of pixels (an image row is up to 64k values, not a few hundred)."""
    if snap.project.input != "image":
        return settings.score_chunk_rows
    return max(1, min(settings.score_chunk_rows, IMAGE_CHUNK_BYTES // (4 * max(1, snap.X.shape[1]))))


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    """Sample weights that give every labeled class the same total weight (scikit-learn's 'balanced')."""
    counts = np.bincount(y)
    present = np.count_nonzero(counts)
    return (y.size / (present * counts[y])).astype(np.float64)


def _takes_weights(model: Any) -> bool:
    """Whether the adapter's ``fit`` passes ``sample_weight`` on to a model that uses it."""
    return bool(getattr(model, "takes_sample_weight", False))


def _pool_and_eval(
    model: Any, snap: Snapshot, chunk: int
) -> tuple[tuple[np.ndarray, np.ndarray | None], np.ndarray | None]:
    """:func:`pool_outputs` over the pool, and the eval split's predictions where the same pass gives them
    (else None: :func:`eval_metrics` asks the model): a model that :attr:`predicts_by_sign` (a two-class
    SVM) scores pool and eval rows in one call when they fit in one chunk. The values are those of two
    separate calls: an SVM scores each row on its own."""
    n = snap.pool_rows.size
    if not (getattr(model, "predicts_by_sign", False) and snap.texts is None and n > 0
            and 0 < snap.eval_rows.size <= chunk - n):
        return pool_outputs(model, snap, snap.pool_rows, chunk), None
    decisions, predicted = model.decide(model_inputs(snap, np.concatenate([snap.pool_rows, snap.eval_rows])))
    return (model.probs_from_decisions(decisions[:n]), decisions[:n]), predicted[n:]


def _fit(
    project: Project, snap: Snapshot, version: int, settings: Settings
) -> tuple[Any, tuple[np.ndarray, np.ndarray | None], np.ndarray | None, bool, float]:
    """Fit the project's model; (model, pool probabilities and decision values, the eval split's
    predictions when scoring the pool made them (:func:`_pool_and_eval`), whether it was refit with
    balanced weights, seconds spent fitting).

    A model that predicts one class for the whole pool although the labels show several (a small,
    skewed first sample under a strongly regularized model) is refit once with balanced class
    weights where the model takes sample weights.
    """
    started = time.perf_counter()
    model = build_model(project.model, len(project.labels), project.seed + version)
    X, y = model_inputs(snap, snap.labeled_rows), snap.labeled_y
    model.fit(X, y)
    fitting = time.perf_counter() - started
    outputs, predicted = _pool_and_eval(model, snap, _chunk(snap, settings))
    if _rescues(project) and _one_class(outputs[0]) and np.unique(y).size > 1 and _takes_weights(model):
        started = time.perf_counter()
        model = build_model(project.model, len(project.labels), project.seed + version)
        model.fit(X, y, sample_weight=_balanced_weights(y))
        fitting += time.perf_counter() - started
        return model, *_pool_and_eval(model, snap, _chunk(snap, settings)), True, fitting
    return model, outputs, predicted, False, fitting


def _rescues(project: Project) -> bool:
    """Whether a one-class model is refit with balanced weights, then replaced by the cold-start rule."""
    return bool(project.model.get("one_class_rescue", True))


def _one_class(probs: np.ndarray) -> bool:
    """Whether a model's predictions over the pool (more than one item) all name the same class."""
    return probs.shape[0] > 1 and bool(np.all(probs.argmax(axis=1) == probs[0].argmax()))


def train_round(store: Store, settings: Settings, snap: Snapshot) -> RoundWrite:
    """Fit, evaluate, rescore and rank; the write records the version and swaps the queue.

    A model whose predictions over the pool name one class only never ranks (unless the project's
    model turns ``one_class_rescue`` off): it tells the strategy nothing about where the classes meet. Its version and metrics are recorded, and the
    cold-start rule ranks the rest of the pool instead, so labels keep covering the space.
    """
    project = snap.project
    if project.task == "multilabel":  # issue 20: label sets, per-label probabilities (alloop.tasks)
        from alloop.tasks.multilabel_loop import train_multilabel_round

        return train_multilabel_round(store, settings, snap)
    if project.task == "spans":  # spans: a tagger and sequence strategies (alloop.tasks.spans_round)
        from alloop.tasks.spans_round import train_spans_round

        return train_spans_round(store, settings, snap)
    started = time.perf_counter()
    version = snap.version + 1
    model, (probs, decisions), predicted, balanced, fit_seconds = _fit(project, snap, version, settings)
    metrics = eval_metrics(model, snap, project.labels, _chunk(snap, settings), predicted)
    if balanced:
        metrics["class_weight"] = "balanced"
    agreement = None
    pdir = store.project_dir(project.id) if settings.round_files else None  # no folder without round files
    if pdir is not None:
        agreement = _agreement(pdir / PREDICTIONS_FILE, snap.pool_idx, probs.argmax(axis=1))
        save_predictions(pdir / PREDICTIONS_FILE, snap.pool_idx, probs, version)
    rng = strategies.SeededGenerator([project.seed, version])  # seeded only if the ranking draws
    if _rescues(project) and _one_class(probs):
        strategy = f"{COLD_START}{project.cold_start}"
        order = cold_start_order(np.asarray(snap.X[snap.pool_rows]), _cold_start_k(project), rule=project.cold_start,
                                 rng=rng)
        ranked, scores = snap.pool_idx[order], None
    else:
        strategy = project.strategy["name"]
        ranked, scores = _rank(snap, probs, settings.queue_depth, rng, decisions=decisions,
                               samples=lambda: sample_pool(model, snap, snap.pool_rows, _chunk(snap, settings)))
    return finish_round(store, settings, snap, model, version, metrics, agreement, started, fit_seconds,
                        Ranking(project.id, ranked, scores), strategy, check=_label_check(store, snap, version))


def finish_round(
    store: Store, settings: Settings, snap: Snapshot, model: Any, version: int, metrics: dict[str, Any],
    agreement: float | None, started: float, fit_seconds: float, ranking: Ranking, strategy: str,
    check: dict[str, Any] | None = None,
) -> RoundWrite:
    """A trained round's end, for every task: the model saved (with round files), the version's fields,
    and the write that records them and switches in ``ranking``."""
    artifact = None
    if settings.round_files:
        models = store.project_dir(snap.project.id) / "models"
        models.mkdir(exist_ok=True)
        artifact = models / f"v{version}"  # a file or a directory, as the adapter saves it
        model.save(artifact)
        _prune_artifacts(models, keep=settings.keep_models)
    fields = {
        "created_at": time.time(), "n_labels": int(snap.labeled_rows.size), "metrics": metrics,
        "agreement": agreement, "train_seconds": fit_seconds,
        "score_seconds": time.perf_counter() - started - fit_seconds,
        "artifact": None if artifact is None else str(artifact.relative_to(store.data_dir)),
    }
    return RoundWrite(
        {"ran": True, "labels": int(snap.labeled_rows.size)},
        functools.partial(record_training, snap.project.id, fields, int(ranking.item_idx.size), strategy,
                          snap.n_labeled, check=check),
        ranking,
    )


def _label_check(store: Store, snap: Snapshot, version: int) -> dict[str, Any] | None:
    """With review on: the round's label check when one is due (every retrain, or every ``every``
    labels, from ``min_labels`` on), else just how many replaced labels this round's model saw; None
    with review off.

    A check that fails is recorded with its error (shown in status); the round still lands.
    """
    spec = review_settings(snap.project)
    if spec is None:
        return None
    with store.read() as conn:
        seen = {"replaced_seen": replaced_count(conn, snap.project.id)}
        last = conn.execute("SELECT n_labels FROM label_checks WHERE project_id = ? AND created_at IS NOT NULL",
                            (snap.project.id,)).fetchone()
    if snap.n_labeled < spec.min_labels or (
            spec.every is not None and last is not None and snap.n_labeled - last[0] < spec.every):
        return seen
    from alloop.quality.label_errors import check_labels

    try:
        return {**check_labels(store, snap, spec, version), **seen}
    except Exception as exc:  # cleanlab missing or failing: the model round still counts
        log.exception("project %s: label check failed", snap.project.id)
        return {**seen, "created_at": time.time(), "model_version": version, "error": f"{type(exc).__name__}: {exc}"}


def _prune_artifacts(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` saved model versions (a transformer is ~100 MB each)."""
    versions = sorted(
        (p for p in folder.iterdir() if p.name.startswith("v") and p.name[1:].split(".")[0].isdigit()),
        key=lambda p: int(p.name[1:].split(".")[0]),
    )
    for old in versions[:-keep] if keep > 0 else []:
        shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)


def _cold_start_k(project: Project) -> int:
    """How many items a cold-start ranking orders: enough for a few retrain intervals."""
    return max(100, 3 * max(project.batch_size, project.retrain_every))


def cold_start_round(store: Store, settings: Settings, snap: Snapshot) -> RoundWrite:
    """Rank the first items by the project's cold-start rule (no model yet, or none that can rank).

    Run again when such a ranking runs out before a model can take over; its seed moves with the
    labels so the new ranking is not the old one over what is left.
    """
    project = snap.project
    with store.read() as conn:  # items in annotators' hands are theirs: rank the free ones
        held = np.fromiter((r[0] for r in conn.execute(
            "SELECT item_idx FROM leases WHERE project_id = ? AND expires_at > ?", (project.id, time.time())
        )), dtype=np.int64)
    free = np.flatnonzero(~np.isin(snap.pool_idx, held))
    rng = np.random.default_rng([project.seed, 0] if snap.n_labeled == 0 else [project.seed, 0, snap.n_labeled])
    order = free[cold_start_order(np.asarray(snap.X[snap.pool_rows[free]]), _cold_start_k(project),
                                  rule=project.cold_start, rng=rng)]
    return RoundWrite(
        {"ran": True},
        functools.partial(record_cold_start, project.id, int(order.size), f"{COLD_START}{project.cold_start}",
                          snap.n_labeled),
        Ranking(project.id, snap.pool_idx[order], None),
    )
