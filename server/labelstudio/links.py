"""Which Label Studio annotation gave which alloop label or vote: needed to apply edits and deletions.

Label Studio's ANNOTATIONS_DELETED webhook names only annotation ids, so alloop keeps the link
in its own table (schema migration v3, in the same database as the labels), with the annotator
the annotation spoke for (v9): with ``labels_per_item`` > 1 an annotation is that annotator's
vote, and an edit or deletion changes the vote, and the item's majority label with it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import NamedTuple

from alloop.store.budget import resume_if_room
from alloop.store.projects import get_project
from alloop.store.votes import change_vote, has_vote, withdraw_vote

__all__ = ["Link", "delete_annotations", "edit_annotation", "link", "linked"]


class Link(NamedTuple):
    item_idx: int
    annotator: str | None  # None for links made before schema v9


def link(conn: sqlite3.Connection, project_id: int, annotation_id: int, item_idx: int, annotator: str) -> None:
    """Remember that ``annotation_id`` labeled (or voted on) ``item_idx`` for ``annotator``."""
    conn.execute(
        "INSERT OR REPLACE INTO labelstudio_links (project_id, annotation_id, item_idx, created_at, annotator) "
        "VALUES (?, ?, ?, ?, ?)",
        (project_id, annotation_id, item_idx, time.time(), annotator),
    )


def linked(conn: sqlite3.Connection, project_id: int, annotation_id: int) -> Link | None:
    """The item an annotation labeled and whom for, or None."""
    row = conn.execute(
        "SELECT item_idx, annotator FROM labelstudio_links WHERE project_id = ? AND annotation_id = ?",
        (project_id, annotation_id),
    ).fetchone()
    return Link(row[0], row[1]) if row else None


def edit_annotation(conn: sqlite3.Connection, found: Link, label: str, annotator: str) -> bool:
    """Apply an edit: to the annotator's vote if the annotation was one, else to the item's label.

    True if anything changed.
    """
    voter = found.annotator or annotator
    if has_vote(conn, found.item_idx, voter):
        return change_vote(conn, found.item_idx, voter, label)
    cursor = conn.execute(
        "UPDATE labels SET label = ?, annotator = ? WHERE item_idx = ? AND label != ?",
        (label, annotator, found.item_idx, label),
    )
    return cursor.rowcount > 0


def delete_annotations(conn: sqlite3.Connection, project_id: int, annotation_ids: list[int]) -> dict[str, int]:
    """Take back what these annotations gave: a label, or a vote (an item it decided is reopened).

    Answers ``removed`` (labels or votes taken back) and ``unresolved`` (votes linked before
    schema v9, whose annotator is unknown, left as they are). A campaign stopped because its
    budget or pool ran out resumes once there is room again.
    """
    project = get_project(conn, project_id)
    removed = unresolved = labels_removed = 0
    for annotation_id in annotation_ids:
        found = linked(conn, project_id, annotation_id)
        if found is None:
            continue
        voted = conn.execute("SELECT 1 FROM votes WHERE item_idx = ? LIMIT 1", (found.item_idx,)).fetchone()
        if not voted:  # a label given directly (labels_per_item = 1)
            labels_removed += conn.execute("DELETE FROM labels WHERE item_idx = ?", (found.item_idx,)).rowcount
        elif found.annotator is None:
            unresolved += 1
            continue  # keep the link: the vote is still there
        else:  # False if this annotator's vote is gone already; resumes the campaign itself
            removed += withdraw_vote(conn, project, found.item_idx, found.annotator)
        conn.execute(
            "DELETE FROM labelstudio_links WHERE project_id = ? AND annotation_id = ?", (project_id, annotation_id)
        )
    if labels_removed:
        resume_if_room(conn, project)
    return {"removed": removed + labels_removed, "unresolved": unresolved}
