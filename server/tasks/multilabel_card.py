"""The dataset card's label balance for a multi-label project: how often each label applies.

Shares are per item (a label set may hold several labels or none, so they need not sum to 1): the
labeled items carrying each label, the unlabeled pool items the newest model predicts it for, and
the eval items whose gold carries it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from alloop.store.db import Store
from alloop.store.predictions import PREDICTIONS
from alloop.store.projects import Project
from alloop.tasks.multilabel import target_matrix

__all__ = ["label_balance"]


def _share(n: float, total: int) -> float | None:
    return None if total == 0 else round(float(n) / total, 4)


def _predicted(store: Store, conn: sqlite3.Connection, project: Project) -> tuple[np.ndarray, int, Any] | None:
    """(items predicted per label, pool items covered, model version) over the still unlabeled pool."""
    predictions = PREDICTIONS.get(store.project_path(project.id))
    if predictions is None or predictions.pred.ndim != 2:
        return None
    labeled = np.fromiter((r[0] for r in conn.execute(
        "SELECT item_idx FROM labels WHERE project_id = ?", (project.id,))), dtype=np.int64)
    pred = predictions.pred[~np.isin(predictions.idx, labeled)]
    return pred.sum(axis=0), int(pred.shape[0]), predictions.version


def label_balance(store: Store, conn: sqlite3.Connection, project: Project) -> dict[str, Any]:
    """The card's ``class_balance`` for label sets: per label, how many labeled items carry it and its
    per-item shares among the labeled, the predicted pool and the eval gold."""
    labeled = target_matrix(project.labels, [r[0] for r in conn.execute(
        "SELECT label FROM labels WHERE project_id = ?", (project.id,))])
    gold = target_matrix(project.labels, [r[0] for r in conn.execute(
        "SELECT gold FROM items WHERE project_id = ? AND split = 'eval' AND gold IS NOT NULL", (project.id,))])
    predicted = _predicted(store, conn, project)
    classes = []
    for k, name in enumerate(project.labels):
        classes.append({
            "label": name, "labeled": int(labeled[:, k].sum()), "labeled_share": _share(labeled[:, k].sum(), len(labeled)),
            "pool_predicted_share": _share(predicted[0][k], predicted[1]) if predicted else None,
            "eval_share": _share(gold[:, k].sum(), len(gold)) if len(gold) else None,
        })
    return {"classes": classes, "labeled": int(labeled.shape[0]), "eval": int(gold.shape[0]),
            "per_item": True, "empty_sets": int((labeled.sum(axis=1) == 0).sum()),
            "pool_predicted_by": None if predicted is None else {"model_version": predicted[2], "items": predicted[1]}}
