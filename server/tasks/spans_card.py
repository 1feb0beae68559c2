"""The dataset card's class balance for a spans project: entities per type, not answers per label."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from typing import Any

from alloop.store.db import Store
from alloop.store.projects import Project

__all__ = ["spans_balance"]


def _types(answers: Iterable[str]) -> Counter[str]:
    """Entities per type over stored span answers."""
    return Counter(span["label"] for answer in answers for span in json.loads(answer))


def _share(n: int, total: int) -> float | None:
    return None if total == 0 else round(n / total, 4)


def spans_balance(store: Store, conn: sqlite3.Connection, project: Project) -> dict[str, Any]:
    """Per entity type: entities among the labels, their share, the newest model's predicted share over the
    unlabeled pool, and the share among the eval split's gold entities. ``labeled`` and ``eval`` count items."""
    from alloop.tasks.spans_round import read_span_predictions

    answers = [r[0] for r in conn.execute("SELECT label FROM labels WHERE project_id = ?", (project.id,))]
    gold = [r[0] for r in conn.execute("SELECT gold FROM items WHERE project_id = ? AND split = 'eval'", (project.id,))]
    labeled, in_eval = _types(answers), _types(gold)
    found = read_span_predictions(store.project_path(project.id))
    predicted = None
    if found is not None:
        done = {r[0] for r in conn.execute("SELECT item_idx FROM labels WHERE project_id = ?", (project.id,))}
        predicted = _types(a for idx, a in found[1].items() if idx not in done)
    totals = sum(labeled.values()), sum(in_eval.values()), sum(predicted.values()) if predicted else 0
    classes = [{
        "label": name, "labeled": labeled[name], "labeled_share": _share(labeled[name], totals[0]),
        "pool_predicted_share": _share(predicted[name], totals[2]) if predicted else None,
        "eval_share": _share(in_eval[name], totals[1]) if gold else None,
    } for name in project.labels]
    return {"classes": classes, "labeled": len(answers), "eval": len(gold), "unit": "entities",
            "entities": {"labeled": totals[0], "eval": totals[1]},
            "pool_predicted_by": None if found is None else {"model_version": found[0], "entities": totals[2]}}
