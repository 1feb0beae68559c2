"""Suspected label errors, found with cleanlab on out-of-fold probabilities of the project's model.

After a retrain (in whichever process runs rounds), :func:`check_labels` fits the project's model
spec on ``folds`` stratified, seeded folds of the newest ``max_labels`` labels and predicts each
held-out fold: every label gets a probability from a model that never saw it. Classes with fewer
labels than folds are left out of the check (they cannot be stratified; their items are neither
suspected nor used). Without overlap, :func:`cleanlab.filter.find_label_issues` picks the issues,
ranked by self-confidence (the out-of-fold probability of the given label, lowest first). With
overlap, CROWDLAB (:func:`cleanlab.multiannotator.get_label_quality_multiannotator`) weighs every
vote by its annotator's estimated quality: an item is suspected when its consensus differs from
the majority label or its consensus quality is below :data:`CROWDLAB_THRESHOLD`, ranked by that
quality.

cleanlab is the ``quality`` extra, imported here only: a project asking for review without it is
refused when it is created (:func:`cleanlab_missing`).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from alloop.loop.snapshot import Snapshot
from alloop.models import build_model
from alloop.schemas import ReviewSpec
from alloop.store.db import Store

__all__ = ["CROWDLAB_THRESHOLD", "check_labels", "cleanlab_missing", "out_of_fold"]

CROWDLAB_THRESHOLD = 0.5
"""With overlap, an item whose CROWDLAB consensus quality score is below this is suspected."""
INSTALL = "pip install 'alloop[quality]'"


def cleanlab_missing() -> str | None:
    """Why reviews cannot run here (cleanlab is not installed), or None."""
    if importlib.util.find_spec("cleanlab") is None:
        return f"reviewing label errors needs cleanlab, which is not installed; run: {INSTALL}"
    return None


def out_of_fold(
    snap: Snapshot, rows: np.ndarray, y: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities for the labeled feature ``rows`` with labels ``y`` (project positions).

    Returns
    -------
    kept : (m,) positions into ``rows`` of the labels checked (their class has at least ``folds`` labels)
    probs : (m, K) probabilities over the K checked classes (in increasing class order), rows summing to 1
    """
    from alloop.loop.training import model_inputs

    classes, counts = np.unique(y, return_counts=True)
    checked = classes[counts >= folds]
    kept = np.flatnonzero(np.isin(y, checked))
    if checked.size < 2:
        return kept[:0], np.empty((0, checked.size))
    full = np.zeros((kept.size, len(snap.project.labels)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(np.zeros(kept.size), y[kept])):
        model = build_model(snap.project.model, len(snap.project.labels), seed + fold)
        model.fit(model_inputs(snap, rows[kept[train]]), y[kept[train]])
        full[test] = model.predict_proba(model_inputs(snap, rows[kept[test]]))
    probs = full[:, checked] + 1e-12
    return kept, probs / probs.sum(axis=1, keepdims=True)


def _labeled(store: Store, project_id: int, limit: int, overlap: bool) -> dict[str, Any]:
    """The newest ``limit`` labels with vectors (item, row, label), the reviewed items, and the votes."""
    with store.read() as conn:
        rows = conn.execute(
            "SELECT i.idx, i.row, b.label FROM labels b JOIN items i ON i.idx = b.item_idx "
            "WHERE b.project_id = ? AND i.row IS NOT NULL ORDER BY b.id DESC LIMIT ?", (project_id, limit),
        ).fetchall()
        reviewed = {r[0] for r in conn.execute("SELECT item_idx FROM reviews WHERE project_id = ?", (project_id,))}
        votes = conn.execute(
            "SELECT item_idx, annotator, label FROM votes WHERE project_id = ? ORDER BY id", (project_id,)
        ).fetchall() if overlap else []
    return {"rows": rows, "reviewed": reviewed, "votes": votes}


def _ranked_issues(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, suspicion scores): cleanlab's label issues, most likely wrong first."""
    from cleanlab.filter import find_label_issues

    # n_jobs=1: cleanlab's worker pool reads module globals its parent set, which a round in the server's
    # worker process (forkserver) does not share (NameError: pred_probs_by_class)
    order = find_label_issues(labels=labels, pred_probs=probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    return order, 1.0 - probs[order, labels[order]]


def _crowdlab(
    items: np.ndarray, labels: np.ndarray, probs: np.ndarray, votes: list[Any], position: dict[str, int],
    checked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(positions, scores, per-annotator quality) from CROWDLAB over the votes of the checked items."""
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator

    column = {int(c): k for k, c in enumerate(checked)}
    at = {int(idx): k for k, idx in enumerate(items)}
    annotators = sorted({v[1] for v in votes if int(v[0]) in at})
    table = np.full((items.size, len(annotators)), np.nan)
    who = {name: k for k, name in enumerate(annotators)}
    for idx, annotator, label in votes:
        cls = column.get(position.get(label, -1))
        if int(idx) in at and cls is not None:
            table[at[int(idx)], who[annotator]] = cls
    result = get_label_quality_multiannotator(pd.DataFrame(table, columns=annotators), probs, verbose=False)
    quality = result["label_quality"]
    consensus = quality["consensus_label"].to_numpy()
    score = quality["consensus_quality_score"].to_numpy()
    suspect = np.flatnonzero((consensus != labels) | (score < CROWDLAB_THRESHOLD))
    order = suspect[np.argsort(score[suspect], kind="stable")]
    stats = result["annotator_stats"]
    per = {str(name): {"quality": round(float(row["annotator_quality"]), 4),
                       "agreement_with_consensus": round(float(row["agreement_with_consensus"]), 4)}
           for name, row in stats.iterrows()}
    return order, 1.0 - score[order], per


def check_labels(store: Store, snap: Snapshot, spec: ReviewSpec, version: int) -> dict[str, Any]:
    """One label check after a retrain: the suspects, best first, and what the check cost.

    Returns the ``check`` :func:`alloop.store.reviews.record_check` stores: ``suspects`` as (item,
    score) pairs (items reviewed before left out), ``n_labels`` (the project's labels), ``checked``
    (the newest ``max_labels`` of them, in classes with enough labels), ``method`` (``cleanlab`` or
    ``crowdlab``), ``seconds``, ``annotators``.
    """
    started = time.perf_counter()
    project = snap.project
    overlap = project.labels_per_item > 1
    data = _labeled(store, project.id, spec.max_labels, overlap)
    position = {label: k for k, label in enumerate(project.labels)}
    items = np.asarray([r[0] for r in data["rows"]], dtype=np.int64)
    rows = np.asarray([r[1] for r in data["rows"]], dtype=np.int64)
    y = np.asarray([position[r[2]] for r in data["rows"]], dtype=np.int64)
    kept, probs = out_of_fold(snap, rows, y, spec.folds, project.seed + version)
    method, annotators = ("crowdlab" if overlap else "cleanlab"), None
    found: list[tuple[int, float]] = []
    if kept.size:
        checked = np.unique(y[kept])
        labels = np.searchsorted(checked, y[kept])
        if overlap:
            order, scores, annotators = _crowdlab(items[kept], labels, probs, data["votes"], position, checked)
        else:
            order, scores = _ranked_issues(labels, probs)
        found = [(int(items[kept[k]]), float(s)) for k, s in zip(order, scores)
                 if int(items[kept[k]]) not in data["reviewed"]]
    return {
        "suspects": found, "created_at": time.time(), "model_version": version, "n_labels": snap.n_labeled,
        "checked": int(kept.size), "method": method, "seconds": round(time.perf_counter() - started, 4),
        "error": None, "annotators": annotators,
    }
