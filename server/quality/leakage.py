"""Leakage: eval items that are exact or near duplicates of pool items.

A leak is a pair (eval item, pool item) in the ``leaks`` table (schema v14), found when either
side is imported (:mod:`alloop.quality.duplicates` finds the links), with its cosine similarity
and whether it was an exact match. Items that share an exact key leak together. The project's
``leakage`` setting: ``report`` (the default) only reports them; ``drop`` takes the unlabeled
leaked pool items out of the pool (``items.split = 'leaked'``): never served, never trained on,
and put back when the setting returns to ``report``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from alloop.store.projects import Project

__all__ = ["LEAKAGE_MODES", "drop", "pairs", "record", "report", "restore"]

LEAKAGE_MODES = ("report", "drop")
_CHUNK = 500


def _same_key(conn: sqlite3.Connection, idx: int, splits: tuple[str, ...]) -> list[int]:
    """The item and every item of the given splits sharing its exact key."""
    marks = ",".join("?" * len(splits))
    rows = conn.execute(
        f"SELECT d.idx FROM items s JOIN items d ON d.project_id = s.project_id AND d.exact_key = s.exact_key "
        f"WHERE s.idx = ? AND d.split IN ({marks})",
        (idx, *splits),
    ).fetchall()
    return sorted({idx, *(r[0] for r in rows)})


def record(conn: sqlite3.Connection, project: Project, pairs: Sequence[tuple[int, int, float, bool]]) -> None:
    """Store (eval idx, pool idx, cosine, exact) pairs, each widened to the items sharing their exact keys."""
    rows = []
    for eval_idx, pool_idx, similarity, exact in pairs:
        for e in _same_key(conn, eval_idx, ("eval",)):
            for p in _same_key(conn, pool_idx, ("pool", "leaked")):
                rows.append((project.id, e, p, min(1.0, similarity), int(exact)))
    conn.executemany(
        "INSERT INTO leaks (project_id, eval_idx, pool_idx, similarity, exact) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (eval_idx, pool_idx) DO UPDATE SET similarity = MAX(leaks.similarity, excluded.similarity), "
        "exact = MAX(leaks.exact, excluded.exact)",
        rows,
    )
    if project.leakage == "drop":
        drop(conn, project.id)


def drop(conn: sqlite3.Connection, project_id: int) -> int:
    """Take the unlabeled leaked pool items out of the pool; returns how many."""
    before = conn.total_changes
    conn.execute(
        "UPDATE items SET split = 'leaked' WHERE project_id = ? AND split = 'pool' AND labeled != 1 "
        "AND idx IN (SELECT pool_idx FROM leaks WHERE project_id = ?)",
        (project_id, project_id),
    )
    dropped = conn.total_changes - before
    if dropped:
        conn.execute(
            "DELETE FROM queue WHERE project_id = ? AND item_idx IN (SELECT idx FROM items WHERE project_id = ? "
            "AND split = 'leaked')", (project_id, project_id),
        )
    return dropped


def restore(conn: sqlite3.Connection, project_id: int) -> None:
    """Dropped items back into the pool (``leakage: report``)."""
    conn.execute("UPDATE items SET split = 'pool' WHERE project_id = ? AND split = 'leaked'", (project_id,))


def report(conn: sqlite3.Connection, project: Project, examples: int = 5) -> dict[str, Any]:
    """How many eval items leak (and into how many pool items), how many were dropped, and examples."""
    eval_items, pool_items, exact = conn.execute(
        "SELECT COUNT(DISTINCT eval_idx), COUNT(DISTINCT pool_idx), COUNT(DISTINCT CASE WHEN exact != 0 THEN eval_idx END) "
        "FROM leaks WHERE project_id = ?", (project.id,),
    ).fetchone()
    dropped = conn.execute(
        "SELECT COUNT(*) FROM items WHERE project_id = ? AND split = 'leaked'", (project.id,)
    ).fetchone()[0]
    return {
        "setting": project.leakage, "eval_items": eval_items, "exact_eval_items": exact, "pool_items": pool_items,
        "dropped": dropped, "examples": pairs(conn, project.id, examples),
    }


def pairs(conn: sqlite3.Connection, project_id: int, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """Leaked pairs by client ids, most similar first."""
    rows = conn.execute(
        "SELECT e.ext_id AS eval_id, p.ext_id AS pool_id, k.similarity, k.exact, p.split = 'leaked' AS dropped "
        "FROM leaks k JOIN items e ON e.idx = k.eval_idx JOIN items p ON p.idx = k.pool_idx "
        "WHERE k.project_id = ? ORDER BY k.similarity DESC, k.eval_idx, k.pool_idx LIMIT ? OFFSET ?",
        (project_id, limit, offset),
    ).fetchall()
    return [{"eval_id": r[0], "pool_id": r[1], "similarity": round(r[2], 6), "exact": bool(r[3]),
             "dropped": bool(r[4])} for r in rows]
