"""Label Studio webhooks: annotation events become alloop labels in one short write each.

Label Studio drops webhooks that take longer than about a second, so nothing here trains:
the route acknowledges, and :meth:`Controller.wake` lets the loop retrain in the background.
"""

from __future__ import annotations

import logging
from typing import Any

from alloop.errors import Invalid
from alloop.labelstudio import links
from alloop.labelstudio.predict import alloop_id
from alloop.schemas import LabelIn
from alloop.store.db import Store
from alloop.store.items import lookup_items
from alloop.store.labels import submit_labels
from alloop.store.projects import Project, get_project
from alloop.tasks import canonical_label

__all__ = ["annotation_answer", "annotation_label", "annotator_name", "handle_event", "stored_form"]

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


def annotation_answer(annotation: dict[str, Any], project: Project) -> Any:
    """The answer an annotation gives the project: its first choice (None: no choice); for a multilabel
    project every choice ticked (:mod:`alloop.tasks.multilabel_labelstudio`); for a spans project its
    ``labels`` regions as spans (:mod:`alloop.tasks.spans_ls`). Checked later, as any answer is."""
    if project.task == "multilabel":
        from alloop.tasks.multilabel_labelstudio import annotation_set

        return annotation_set(annotation)
    if project.task == "spans":
        from alloop.tasks.spans_ls import annotation_spans

        return annotation_spans(annotation)
    return annotation_label(annotation)


def stored_form(answer: Any, project: Project, text: str | None = None) -> str:
    """An annotation's answer as alloop stores it (a label set or spans as its canonical string; spans are
    checked against the item's ``text``); Invalid if the project cannot take it."""
    if isinstance(answer, str):
        return answer
    try:
        return canonical_label(project.task, project.labels, answer, text)
    except ValueError as exc:
        raise Invalid(f"the annotation's answer: {exc}") from None


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
    """Apply an edit to the label or vote this annotation gave (``label`` in its stored form,
    :func:`stored_form`); None when alloop has no such link."""
    with store.write() as conn:
        found = links.linked(conn, project_id, annotation_id)
        if found is None:
            return None
        changed = links.edit_annotation(conn, found, label, annotator)
    return {"status": "updated", "changed": changed}


def _upsert(store: Store, project_id: int, payload: dict[str, Any], now: float, edited: bool) -> dict[str, Any]:
    annotation, task = payload.get("annotation") or {}, payload.get("task") or {}
    item_id = alloop_id(task)
    if item_id is None:
        raise Invalid("the task has no data.alloop_id, so alloop cannot tell which item it is")
    if annotation.get("was_cancelled"):
        return {"status": "skipped", "item_id": item_id}
    with store.read() as conn:
        project = get_project(conn, project_id)
        item = lookup_items(conn, project_id, [item_id]).get(item_id) if project.task == "spans" else None
    label = annotation_answer(annotation, project)
    if label is None:
        raise Invalid("the annotation has no choices result")
    annotation_id, annotator = _annotation_id(annotation), annotator_name(annotation)
    if edited and annotation_id is not None:
        text = item["text"] if item is not None else None
        answer = _update(store, project_id, annotation_id, stored_form(label, project, text), annotator)
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
