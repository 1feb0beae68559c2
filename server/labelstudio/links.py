"""Which Label Studio annotation gave which alloop label: needed to apply updates and deletions.

Label Studio's ANNOTATIONS_DELETED webhook names only annotation ids, so alloop keeps the link
in its own table (schema migration v3, in the same database as the labels).
"""

from __future__ import annotations

import sqlite3
import time

from server.store.budget import exhausted
from server.store.projects import get_project, resume_project

__all__ = ["link", "linked_item", "update_label", "delete_labels"]

def link(conn: sqlite3.Connection, project_id: int, annotation_id: int, item_idx: int) -> None:
    """Remember that ``annotation_id`` labeled ``item_idx``."""
    conn.execute(
        "INSERT OR REPLACE INTO labelstudio_links (project_id, annotation_id, item_idx, created_at) "
        "VALUES (?, ?, ?, ?)",
        (project_id, annotation_id, item_idx, time.time()),
    )


def linked_item(conn: sqlite3.Connection, project_id: int, annotation_id: int) -> int | None:
    """The item an annotation labeled, or None."""
    row = conn.execute(
        "SELECT item_idx FROM labelstudio_links WHERE project_id = ? AND annotation_id = ?",
        (project_id, annotation_id),
    ).fetchone()
    return row[0] if row else None


def update_label(conn: sqlite3.Connection, item_idx: int, label: str, annotator: str) -> bool:
    """Change a stored label (an annotation was edited); True if it changed."""
    cursor = conn.execute(
        "UPDATE labels SET label = ?, annotator = ? WHERE item_idx = ? AND label != ?",
        (label, annotator, item_idx, label),
    )
    return cursor.rowcount > 0


def delete_labels(conn: sqlite3.Connection, project_id: int, annotation_ids: list[int]) -> int:
    """Remove the labels these annotations gave; a campaign stopped by budget or pool resumes."""
    removed = 0
    for annotation_id in annotation_ids:
        item_idx = linked_item(conn, project_id, annotation_id)
        if item_idx is None:
            continue
        removed += conn.execute("DELETE FROM labels WHERE item_idx = ?", (item_idx,)).rowcount
        conn.execute(
            "DELETE FROM labelstudio_links WHERE project_id = ? AND annotation_id = ?", (project_id, annotation_id)
        )
    project = get_project(conn, project_id)
    if removed and project.state == "done" and project.stop_reason in ("budget_exhausted", "pool_exhausted"):
        if not exhausted(conn, project):
            resume_project(conn, project_id)
    return removed
