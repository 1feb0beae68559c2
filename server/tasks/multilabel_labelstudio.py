"""Label Studio and multi-label projects: ``<Choices choice="multiple">`` answers are label sets.

An annotation's answer is every choice of its first ``choices`` region; an annotation submitted with
nothing chosen (no ``choices`` region) is the empty set, "none apply". Predictions are the newest
model's predicted set as one multiple-choice result (none when it predicts no label).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from alloop.store.db import Store
from alloop.store.projects import Project

__all__ = ["annotation_set", "load_model", "predicted_sets"]


def annotation_set(annotation: dict[str, Any]) -> list[str]:
    """The choices of the first ``choices`` region of an annotation; [] when it has none."""
    for region in annotation.get("result") or []:
        if isinstance(region, dict) and region.get("type") == "choices":
            return [str(choice) for choice in (region.get("value") or {}).get("choices") or []]
    return []


def load_model(project: Project) -> Any:
    """A loader of the project's saved multi-label model versions (for the prediction cache)."""
    from alloop.models.multilabel import load_multilabel

    return lambda path: load_multilabel(project.model, len(project.labels), path)


def predicted_sets(store: Store, cache: Any, project: Project, latest: sqlite3.Row | None,
                   items: list[dict[str, Any]], features: Any) -> dict[int, list[str]]:
    """The newest model's label set for each item with its vector (items as ``lookup_items`` gives them)."""
    if latest is None or not latest["artifact"] or features is None or not items:
        return {}
    model = cache.get(project, latest["version"], store.data_dir / latest["artifact"], loader=load_model(project))
    rows = np.asarray([item["row"] for item in items], dtype=np.int64)
    probs = model.predict_proba(np.asarray(features.matrix()[rows]))
    return {item["idx"]: [project.labels[j] for j in np.flatnonzero(p > 0.5)] for item, p in zip(items, probs)}
