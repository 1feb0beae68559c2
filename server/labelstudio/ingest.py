"""Label Studio webhooks: annotation events become alloop labels in one short write each.

Label Studio drops webhooks that take longer than about a second, so nothing here trains:
the route acknowledges, and :meth:`Controller.wake` lets the loop retrain in the background.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from alloop.errors import Invalid
from alloop.labelstudio import links
from alloop.labelstudio.predict import alloop_id
from alloop.schemas import LabelIn
from alloop.store.db import Store
from alloop.store.items import lookup_items
from alloop.store.labels import submit_labels
from alloop.store.projects import get_project
from alloop.tasks import canonical_label

__all__ = ["annotation_answer", "annotation_label", "annotator_name", "handle_event"]

log = logging.getLogger("alloop.labelstudio")

_CREATED, _UPDATED, _DELETED = "ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"


def annotation_label(annotation: dict[str, Any]) -> str | None:
    """The first choice of the first ``choices`` region of an annotation, or None."""
    for region in annotation.get("result") or []:
        if isinstance(region, dict) and region.get("type") == "choices":
            choices = (region.get("value") or {}).get("choices") or []
            if choices:
                return str(choices[0])
    return None


def annotation_answer(task: str, annotation: dict[str, Any]) -> str | None:
    """What an annotation says, as alloop stores it where the answer is valid: its first choice, or for a
    spans project its spans as compact JSON sorted by start (:mod:`alloop.tasks.spans`); None: no choice."""
    if task != "spans":
        return annotation_label(annotation)
    from alloop.tasks.spans_ls import annotation_spans

    spans = annotation_spans(annotation)
    if all(isinstance(s["start"], int) and isinstance(s["end"], int) for s in spans):
        spans.sort(key=lambda s: (s["start"], s["end"]))
    return json.dumps(spans, separators=(",", ":"))


def annotator_name(annotation: dict[str, Any]) -> str:
    """``labelstudio:<email or user id>`` of whoever completed the annotation."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"labelstudio:{who}"[:200] if who is not None else "labelstudio"


def _annotation_id(annotation: dict[str, Any]) -> int | None:
    value = annotation.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _update(store: Store, project_id: int, annotation_id: int, label: str, annotator: str) -> dict[str, Any] | None:
    """Apply an edit to the label or vote this annotation gave; None when alloop has no such link."""
    with store.write() as conn:
        found = links.linked(conn, project_id, annotation_id)
        if found is None:
            return None
        changed = links.edit_annotation(conn, found, label, annotator)
    return {"status": "updated", "changed": changed}


def _answer(store: Store, project_id: int, item_id: str, annotation: dict[str, Any]) -> Any:
    """The annotation's answer: its first choice, or for a spans project its ``labels`` regions as spans."""
    with store.read() as conn:
        task = get_project(conn, project_id).task
    if task == "spans":  # spans: alloop.tasks.spans_ls
        from alloop.tasks.spans_ls import annotation_spans

        return annotation_spans(annotation)
    label = annotation_label(annotation)
    if label is None:
        raise Invalid("the annotation has no choices result")
    return label


def _stored(store: Store, project_id: int, item_id: str, answer: Any) -> str:
    """An edited answer in its stored form (checked as a new label would be); a label is itself."""
    if isinstance(answer, str):
        return answer
    with store.read() as conn:
        project = get_project(conn, project_id)
        item = lookup_items(conn, project_id, [item_id]).get(item_id)
    try:
        return canonical_label(project.task, project.labels, answer, item["text"] if item else None)
    except ValueError as exc:
        raise Invalid(f"the annotation's answer: {exc}") from None


def _upsert(store: Store, project_id: int, payload: dict[str, Any], now: float, edited: bool) -> dict[str, Any]:
    annotation, task = payload.get("annotation") or {}, payload.get("task") or {}
    item_id = alloop_id(task)
    if item_id is None:
        raise Invalid("the task has no data.alloop_id, so alloop cannot tell which item it is")
    if annotation.get("was_cancelled"):
        return {"status": "skipped", "item_id": item_id}
    label = _answer(store, project_id, item_id, annotation)
    annotation_id, annotator = _annotation_id(annotation), annotator_name(annotation)
    if edited and annotation_id is not None:
        answer = _update(store, project_id, annotation_id, _stored(store, project_id, item_id, label), annotator)
        if answer is not None:
            return answer
    result = submit_labels(store, project_id, [LabelIn(item_id=item_id, label=label, annotator=annotator)], now)
    if result["accepted"] and annotation_id is not None:
        with store.write() as conn:
            idx = lookup_items(conn, project_id, [item_id])[item_id]["idx"]
            links.link(conn, project_id, annotation_id, idx, annotator)
    return {"status": "labeled", **result}


def handle_event(store: Store, project_id: int, payload: dict[str, Any], now: float) -> dict[str, Any]:
    """Apply one webhook; answers what happened. ``wake`` says whether the loop has new work."""
    action = payload.get("action")
    if action in (_CREATED, _UPDATED):
        answer = _upsert(store, project_id, payload, now, edited=action == _UPDATED)
    elif action == _DELETED:
        ids = [a.get("id") for a in payload.get("annotations") or [] if isinstance(a, dict)]
        with store.write() as conn:
            taken = links.delete_annotations(conn, project_id, [i for i in ids if isinstance(i, int)])
        if taken["unresolved"]:
            log.warning("project %s: %s Label Studio vote(s) linked before schema v9 not taken back "
                        "(their annotator is unknown)", project_id, taken["unresolved"])
        answer = {"status": "deleted", **taken}
    elif action == "START_TRAINING":
        answer = {"status": "training_requested"}
    else:
        return {"status": "ignored", "action": action, "wake": False}
    return {**answer, "action": action, "wake": True}
