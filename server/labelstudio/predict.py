"""Predictions for Label Studio tasks: the newest model's label, and alloop's ranking as the score.

``score`` is ``rank / queue size`` in the newest ranking (0.0 = the item alloop wants labeled
first; 1.0 = not in the ranking), so Label Studio's lowest-score-first sampling follows alloop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alloop.labelstudio.config import Control, check_labels
from alloop.store.db import Store
from alloop.store.items import feature_file, lookup_items
from alloop.store.projects import Project, get_project
from alloop.store.rounds import CURRENT_GEN, latest_version

__all__ = ["ModelCache", "Predictions", "alloop_id", "current_version", "predict_tasks", "predictions", "version_name"]

_CHUNK = 500


def version_name(version: int | None) -> str:
    """The model version Label Studio sees: ``alloop-v<N>``, ``alloop-v0`` before the first model."""
    return f"alloop-v{version or 0}"


def alloop_id(task: dict[str, Any]) -> str | None:
    """The alloop item id a Label Studio task carries in ``data.alloop_id``."""
    data = task.get("data") if isinstance(task, dict) else None
    value = data.get("alloop_id") if isinstance(data, dict) else None
    return None if value is None else str(value)


def current_version(conn: sqlite3.Connection, project_id: int) -> int | None:
    """The model version of the ranking /next serves now (None: cold start or no ranking yet)."""
    row = conn.execute("SELECT model_version FROM rankings WHERE project_id = ?", (project_id,)).fetchone()
    return row[0] if row else None


class ModelCache:
    """The newest loaded model of each project; a new version replaces the old one."""

    def __init__(self) -> None:
        self._models: dict[int, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, project: Project, version: int, path: Path, loader: Any = None) -> Any:
        """The model of ``version``, loaded from ``path`` on first use: by ``loader(path)`` where given (a
        multi-label model), else by the adapter the project's model names (a scikit-learn estimator, or a
        torch one like an image project's cnn)."""
        project_id = project.id
        with self._lock:
            cached = self._models.get(project_id)
            if cached is not None and cached[0] == version:
                return cached[1]
        # the models (scikit-learn, torch) are loaded when a prediction is first asked for, not at server start.
        from alloop.models import load_model

        model = load_model(project.model, len(project.labels), path) if loader is None else loader(path)
        with self._lock:
            self._models[project_id] = (version, model)
        return model


def _positions(conn: sqlite3.Connection, project_id: int, idx: list[int]) -> dict[int, int]:
    """Rank of each item in the stored ranking (items not in it are left out)."""
    found: dict[int, int] = {}
    for start in range(0, len(idx), _CHUNK):
        chunk = idx[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT item_idx, rank FROM queue WHERE project_id = ? AND item_idx IN ({marks}) "
            "AND gen = " + CURRENT_GEN.format("queue.project_id"), (project_id, *chunk)
        )
        found.update((r[0], r[1]) for r in rows)
    return found


def _labeled(conn: sqlite3.Connection, idx: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(idx), _CHUNK):
        chunk = idx[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(f"SELECT item_idx FROM labels WHERE item_idx IN ({marks})", chunk))
    return found


def _predicted(store: Store, cache: ModelCache, project: Project, latest: sqlite3.Row | None,
               items: list[dict[str, Any]]) -> dict[int, Any]:
    """The newest model's label for each item that has its vector; empty before the first model."""
    if project.task == "spans":  # spans: the round's predicted spans (alloop.tasks.spans_round)
        from alloop.tasks.spans_round import read_span_predictions

        found = read_span_predictions(store.project_path(project.id))
        answers = found[1] if found is not None else {}
        return {item["idx"]: (json.loads(answers[item["idx"]]), item["text"]) for item in items if item["idx"] in answers}
    features = feature_file(store, project)
    with_rows = [item for item in items if item["row"] is not None]
    if project.task == "multilabel":  # issue 20: predicted label sets
        from alloop.tasks.multilabel_labelstudio import predicted_sets

        return predicted_sets(store, cache, project, latest, with_rows, features)
    if latest is None or not latest["artifact"] or features is None or not with_rows:
        return {}
    model = cache.get(project, latest["version"], store.data_dir / latest["artifact"])
    rows = np.asarray([item["row"] for item in with_rows], dtype=np.int64)
    probs = model.predict_proba(np.asarray(features.matrix()[rows]))
    return {item["idx"]: project.labels[int(k)] for item, k in zip(with_rows, probs.argmax(axis=1))}


def _result(control: Control, label: Any) -> list[dict[str, Any]]:
    """The result for a prediction: Choices for a label or a label set (multilabel; none for an empty set),
    Labels regions for (spans, text) of a spans project."""
    if label is None or label == []:
        return []
    if isinstance(label, tuple):  # spans: (predicted spans, the item's text)
        from alloop.tasks.spans_ls import span_regions

        return span_regions(control.from_name, control.to_name, *label)
    return [{"from_name": control.from_name, "to_name": control.to_name, "type": "choices",
             "value": {"choices": label if isinstance(label, list) else [label]}}]


@dataclass
class Predictions:
    """One prediction per task, in order, all from one snapshot of the store.

    ``tasks`` are the tasks predicted (all that were asked, or the ``top`` best-ranked of them);
    ``results`` what Label Studio takes (``result``, ``score``, ``model_version``) for each;
    ``items`` the alloop item of each task (None: not a pool item of the project); ``ranked``
    whether the served ranking holds it (its score is below 1); ``ranking`` the ranking's
    ``model_version``, ``strategy`` and ``gen``.
    """

    name: str
    tasks: list[dict[str, Any]]
    results: list[dict[str, Any]]
    items: list[int | None]
    ranked: list[bool]
    ranking: dict[str, Any]


def predictions(store: Store, cache: ModelCache, project_id: int, tasks: list[dict[str, Any]],
                control: Control, *, top: int | None = None, labels: bool = True) -> Predictions:
    """Predictions for ``tasks`` from the served ranking and the newest model, read in one transaction.

    With ``top``, only the ``top`` tasks the ranking puts first (unlabeled, ranked) are predicted;
    ``labels=False`` gives the scores alone (no model is run).
    """
    ids = [alloop_id(task) for task in tasks]
    with store.read() as conn:
        project = get_project(conn, project_id)
        check_labels(control, project.labels)
        items = lookup_items(conn, project_id, [i for i in ids if i is not None])
        pool = [item for item in items.values() if item["split"] == "pool"]
        positions = _positions(conn, project_id, [item["idx"] for item in pool])
        labeled = _labeled(conn, [item["idx"] for item in pool])
        ranking = conn.execute(
            "SELECT model_version, strategy, size, gen FROM rankings WHERE project_id = ?", (project_id,)
        ).fetchone()
        latest = latest_version(conn, project_id)
    idxs: list[int | None] = []
    for item_id in ids:
        item = items.get(item_id) if item_id is not None else None
        idxs.append(item["idx"] if item is not None and item["split"] == "pool" else None)
    ranks = [positions.get(idx) if idx is not None and idx not in labeled else None for idx in idxs]
    if top is not None:
        keep = sorted((k for k, rank in enumerate(ranks) if rank is not None), key=lambda k: ranks[k])[:top]
        tasks, idxs, ranks = [tasks[k] for k in keep], [idxs[k] for k in keep], [ranks[k] for k in keep]
    chosen = {idx for idx in idxs if idx is not None}
    predicted = _predicted(store, cache, project, latest, [item for item in pool if item["idx"] in chosen]) \
        if labels else {}
    name = version_name(ranking["model_version"] if ranking else None)
    size = max(ranking["size"], 1) if ranking else 1
    results = [{"result": _result(control, predicted.get(idx)), "score": 1.0 if rank is None else rank / size,
                "model_version": name} for idx, rank in zip(idxs, ranks)]
    info = {"model_version": ranking["model_version"] if ranking else None,
            "strategy": ranking["strategy"] if ranking else None, "gen": ranking["gen"] if ranking else 0}
    return Predictions(name, tasks, results, idxs, [rank is not None for rank in ranks], info)


def predict_tasks(store: Store, cache: ModelCache, project_id: int, tasks: list[dict[str, Any]],
                  control: Control) -> dict[str, Any]:
    """One prediction per task, in order: ``{"results": [...], "model_version"}`` (the ML backend's answer)."""
    answer = predictions(store, cache, project_id, tasks, control)
    return {"results": answer.results, "model_version": answer.name}
