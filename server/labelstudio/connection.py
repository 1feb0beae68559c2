"""A project's link to a Label Studio project, kept in the store (schema v11).

With a link, the server itself keeps Label Studio in step (:mod:`alloop.labelstudio.agent`):
it pushes every new ranking, reconciles annotations, and stops Label Studio serving while the
campaign is stopped. The Label Studio token is stored because the server calls Label Studio
with it; no answer ever shows it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["MODES", "Link", "all_links", "drop_link", "get_link", "note", "public", "save_link"]

MODES = ("backend", "push")
"""``backend``: Label Studio also calls alloop as its ML backend; ``push``: webhook and pushes only."""


@dataclass(frozen=True)
class Link:
    project_id: int
    url: str
    token: str
    ls_project: int
    mode: str
    pushed_version: str | None
    pushed_gen: int | None
    pushed_at: float | None
    paused: bool
    reconciled_at: float | None
    listed_at: float | None
    last_error: str | None
    created_at: float


def _link(row: sqlite3.Row | None) -> Link | None:
    return None if row is None else Link(**{**dict(row), "paused": bool(row["paused"])})


def get_link(conn: sqlite3.Connection, project_id: int) -> Link | None:
    """The project's link, or None."""
    return _link(conn.execute("SELECT * FROM labelstudio_projects WHERE project_id = ?", (project_id,)).fetchone())


def all_links(conn: sqlite3.Connection) -> list[Link]:
    """Every linked project's link."""
    return [_link(r) for r in conn.execute("SELECT * FROM labelstudio_projects ORDER BY project_id")]


def save_link(conn: sqlite3.Connection, project_id: int, url: str, token: str, ls_project: int, mode: str) -> Link:
    """Create or replace the link; a new Label Studio project starts with nothing pushed or paused."""
    old = get_link(conn, project_id)
    same = old is not None and (old.url, old.ls_project) == (url.rstrip("/"), ls_project)
    conn.execute(
        "INSERT OR REPLACE INTO labelstudio_projects (project_id, url, token, ls_project, mode, pushed_version, "
        "pushed_gen, pushed_at, paused, reconciled_at, listed_at, last_error, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
        (project_id, url.rstrip("/"), token, ls_project, mode,
         *((old.pushed_version, old.pushed_gen, old.pushed_at, int(old.paused)) if same else (None, None, None, 0)),
         old.created_at if same else time.time()),
    )
    if not same:
        conn.execute("DELETE FROM labelstudio_paused WHERE project_id = ?", (project_id,))
    conn.execute("DELETE FROM labelstudio_tasks WHERE project_id = ?", (project_id,))  # listed again on first push
    return get_link(conn, project_id)


def drop_link(conn: sqlite3.Connection, project_id: int) -> bool:
    """Forget the link (Label Studio itself is left as it is); False if there was none."""
    conn.execute("DELETE FROM labelstudio_paused WHERE project_id = ?", (project_id,))
    conn.execute("DELETE FROM labelstudio_tasks WHERE project_id = ?", (project_id,))
    conn.execute("DELETE FROM pushed WHERE project_id = ?", (project_id,))
    return conn.execute("DELETE FROM labelstudio_projects WHERE project_id = ?", (project_id,)).rowcount > 0


def note(conn: sqlite3.Connection, project_id: int, **fields: Any) -> None:
    """Record what the agent did: ``pushed_version``, ``pushed_gen``, ``pushed_at``, ``paused``,
    ``reconciled_at``, ``listed_at``, ``last_error``."""
    if fields:
        assignments = ", ".join(f"{key} = ?" for key in fields)
        conn.execute(f"UPDATE labelstudio_projects SET {assignments} WHERE project_id = ?",
                     (*fields.values(), project_id))


def public(link: Link) -> dict[str, Any]:
    """The link as the API shows it: everything but the token."""
    return {key: value for key, value in link.__dict__.items() if key != "token"}
