"""Make alloop's labels equal Label Studio's current annotations, whatever webhooks were missed.

Label Studio does not retry a webhook: while alloop is down, annotations made, edited or
deleted there never arrive. A reconciliation pass reads every annotation Label Studio holds and
compares it with the annotations alloop linked (``labelstudio_links``): one it never saw is
added, one whose label changed is edited (never added twice), one that is gone is taken back.
It runs on start-up for every linked project, every few minutes after, and on demand (``sync``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from alloop.labelstudio.connection import Link, note
from alloop.labelstudio.ingest import annotation_answer, handle_event, stored_form
from alloop.labelstudio.lsapi import LabelStudio
from alloop.errors import Invalid
from alloop.store.db import Store
from alloop.store.projects import get_project

__all__ = ["reconcile"]

log = logging.getLogger("alloop.labelstudio")


def _stored(store: Store, project_id: int) -> dict[int, str | None]:
    """Each linked annotation and the label (or vote) alloop holds for it now."""
    with store.read() as conn:
        rows = conn.execute(
            "SELECT k.annotation_id, COALESCE("
            "(SELECT v.label FROM votes v WHERE v.item_idx = k.item_idx AND v.annotator = k.annotator), "
            "(SELECT b.label FROM labels b WHERE b.item_idx = k.item_idx)) "
            "FROM labelstudio_links k WHERE k.project_id = ?",
            (project_id,),
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def reconcile(store: Store, link: Link, ls: LabelStudio) -> dict[str, Any]:
    """One pass; answers how many annotations were ``added``, ``edited`` and ``deleted`` (and
    ``refused``: ones alloop would not take, e.g. past the budget)."""
    stored = _stored(store, link.project_id)
    with store.read() as conn:
        project = get_project(conn, link.project_id)
    present: set[int] = set()
    added = edited = refused = 0
    for task in ls.annotated_tasks(link.ls_project):
        bare = {"id": task["id"], "data": task.get("data") or {}}
        for annotation in task.get("annotations") or []:
            answer = None if annotation.get("was_cancelled") else annotation_answer(annotation, project)
            if answer is None:
                continue
            present.add(annotation["id"])
            known = annotation["id"] in stored
            try:
                same = known and stored[annotation["id"]] == stored_form(answer, project, bare["data"].get("text"))
            except Invalid:  # an answer the project cannot take: handle_event refuses it below
                same = False
            if same:
                continue
            action = "ANNOTATION_UPDATED" if known else "ANNOTATION_CREATED"
            answer = handle_event(store, link.project_id, {"action": action, "task": bare, "annotation": annotation},
                                  time.time())
            if known:
                edited += 1
            elif answer.get("accepted"):
                added += 1
            elif answer.get("rejected"):
                refused += 1
    gone = [annotation_id for annotation_id in stored if annotation_id not in present]
    deleted = 0
    if gone:
        answer = handle_event(store, link.project_id, {"action": "ANNOTATIONS_DELETED",
                                                       "annotations": [{"id": a} for a in gone]}, time.time())
        deleted = answer.get("removed", 0)
    store.transact(lambda conn: note(conn, link.project_id, reconciled_at=time.time()))
    if added or edited or deleted:
        log.info("project %s: reconciled with Label Studio project %s: %d added, %d edited, %d deleted",
                 link.project_id, link.ls_project, added, edited, deleted)
    return {"added": added, "edited": edited, "deleted": deleted, "refused": refused}
