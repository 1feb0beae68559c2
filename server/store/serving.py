"""``/next``: lease the top of the ranking that nobody holds, in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from server.store.db import Store
from server.store.items import labeled_count, leased_count
from server.store.projects import Project, get_project

__all__ = ["claim_next", "claim_write"]


def _held(conn: sqlite3.Connection, project_id: int, annotator: str, now: float, n: int) -> list[sqlite3.Row]:
    """Unlabeled items this annotator already holds (a re-poll gets them again)."""
    return conn.execute(
        "SELECT l.item_idx, l.score, l.model_version, l.strategy, l.batch_id FROM leases l "
        "WHERE l.project_id = ? AND l.annotator = ? AND l.expires_at > ? "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = l.item_idx) "
        "ORDER BY l.batch_id, l.position LIMIT ?",
        (project_id, annotator, now, n),
    ).fetchall()


def _from_queue(conn: sqlite3.Connection, project_id: int, now: float, n: int) -> list[tuple[int, float | None]]:
    rows = conn.execute(
        "SELECT q.item_idx, q.score FROM queue q WHERE q.project_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = q.item_idx) "
        "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_idx = q.item_idx AND l.expires_at > ?) "
        "ORDER BY q.rank LIMIT ?",
        (project_id, now, n),
    )
    return [(r[0], r[1]) for r in rows]


def _from_pool(
    conn: sqlite3.Connection, project_id: int, now: float, n: int, taken: set[int]
) -> list[tuple[int, float | None]]:
    """Past the stored ranking: the rest of the pool in its seeded random order, unscored."""
    rows = conn.execute(
        "SELECT i.idx FROM items i WHERE i.project_id = ? AND i.split = 'pool' AND i.row IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = i.idx) "
        "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_idx = i.idx AND l.expires_at > ?) "
        "ORDER BY i.order_key LIMIT ?",
        (project_id, now, n + len(taken)),
    )
    return [(r[0], None) for r in rows if r[0] not in taken][:n]


def _ranking(conn: sqlite3.Connection, project_id: int) -> tuple[int | None, str | None]:
    row = conn.execute(
        "SELECT model_version, strategy FROM rankings WHERE project_id = ?", (project_id,)
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def _allowance(conn: sqlite3.Connection, project: Project, now: float) -> int:
    """New items that may still be leased without overrunning the budget."""
    if project.budget is None:
        return 1 << 30
    return max(0, project.budget - labeled_count(conn, project.id) - leased_count(conn, project.id, now))


def claim_next(store: Store, project_id: int, annotator: str, n: int | None, now: float) -> dict[str, Any]:
    """Lease up to ``n`` items (default: the project's batch size) to ``annotator``: those it
    holds, then the best free ones. One write transaction (group-committed on the server)."""
    return store.transact(claim_write(project_id, annotator, n, now))


def claim_write(
    project_id: int, annotator: str, n: int | None, now: float
) -> Callable[[sqlite3.Connection], dict[str, Any]]:
    """The write :func:`claim_next` makes, for :meth:`Store.transact_async`."""
    return lambda conn: _claim(conn, project_id, annotator, n, now)


def _claim(conn: sqlite3.Connection, project_id: int, annotator: str, n: int | None, now: float) -> dict[str, Any]:
    project = get_project(conn, project_id)
    n = project.batch_size if n is None else n
    if project.state == "done":
        return {"items": [], "expires_at": None, "done": True, "reason": project.stop_reason}
    expires = now + project.lease_seconds
    held = _held(conn, project_id, annotator, now, n)
    conn.executemany(
        "UPDATE leases SET expires_at = ? WHERE item_idx = ?", [(expires, r[0]) for r in held]
    )
    want = min(n - len(held), _allowance(conn, project, now))
    version, strategy = _ranking(conn, project_id)
    fresh = _from_queue(conn, project_id, now, want) if want > 0 else []
    if len(fresh) < want:
        fresh += _from_pool(conn, project_id, now, want - len(fresh), {i for i, _ in fresh})
    batch_id = None
    if fresh:
        batch_id = conn.execute(
            "INSERT INTO batches (project_id, annotator, created_at, model_version, strategy, items) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, annotator, now, version, strategy, json.dumps(fresh)),
        ).lastrowid
        conn.executemany(
            "INSERT OR REPLACE INTO leases (item_idx, project_id, annotator, expires_at, batch_id, "
            "position, score, model_version, strategy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (idx, project_id, annotator, expires, batch_id, pos, score, version, strategy)
                for pos, (idx, score) in enumerate(fresh)
            ],
        )
    chosen = [(r[0], r[1], r[2]) for r in held] + [(idx, score, version) for idx, score in fresh]
    return {
        "items": _describe(conn, chosen),
        "expires_at": expires if chosen else None,
        "done": False,
        "reason": None,
        "project": project,
    }


def _describe(conn: sqlite3.Connection, chosen: list[tuple[int, float | None, int | None]]) -> list[dict[str, Any]]:
    if not chosen:
        return []
    marks = ",".join("?" * len(chosen))
    rows = {
        r["idx"]: r
        for r in conn.execute(f"SELECT idx, ext_id, row, text, meta FROM items WHERE idx IN ({marks})", [c[0] for c in chosen])
    }
    return [
        {
            "idx": idx, "id": rows[idx]["ext_id"], "row": rows[idx]["row"], "text": rows[idx]["text"],
            "meta": json.loads(rows[idx]["meta"]) if rows[idx]["meta"] else None,
            "score": score, "model_version": version,
        }
        for idx, score, version in chosen
    ]
