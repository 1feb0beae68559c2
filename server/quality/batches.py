"""Batches without duplicates: at most one member of a duplicate group among the items out with annotators.

/next's store call (:mod:`alloop.store.serving`) filters its candidates through :func:`one_per_group`
when the project's ``dedup`` is on. Members of a group with a labeled member never reach it: they
are skipped (``items.labeled = 2``, out of the open pool, :mod:`alloop.quality.duplicates`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["busy_groups", "one_per_group"]


def busy_groups(conn: sqlite3.Connection, project_id: int, now: float) -> set[int]:
    """Duplicate groups with a member under a live lease or, with overlap, with votes."""
    rows = conn.execute(
        "SELECT i.dup_group FROM leases l JOIN items i ON i.idx = l.item_idx WHERE l.project_id = :p "
        "AND l.expires_at > :now AND i.dup_group IS NOT NULL UNION "
        "SELECT i.dup_group FROM tallies t JOIN items i ON i.idx = t.item_idx WHERE t.project_id = :p "
        "AND i.dup_group IS NOT NULL",
        {"p": project_id, "now": now},
    )
    return {r[0] for r in rows}


def one_per_group(
    conn: sqlite3.Connection, project_id: int, now: float, want: int,
    candidates: Callable[[int], Sequence[tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    """Up to ``want`` of ``candidates(limit)`` (tuples whose first field is the item idx, best first), at most
    one per duplicate group and none from a group already out with an annotator.

    Asks for more candidates (4 times as many each time) while some are passed over, until ``want``
    are found or there are no more.
    """
    busy = busy_groups(conn, project_id, now)
    limit = want
    while True:
        fresh = candidates(limit)
        marks = ",".join("?" * len(fresh))
        group = dict(conn.execute(
            f"SELECT idx, dup_group FROM items WHERE idx IN ({marks}) AND dup_group IS NOT NULL", [f[0] for f in fresh]
        ).fetchall()) if fresh else {}
        seen = set(busy)
        chosen = []
        for candidate in fresh:
            g = group.get(candidate[0])
            if g is None or g not in seen:
                chosen.append(candidate)
                if g is not None:
                    seen.add(g)
        if len(chosen) >= want or len(fresh) < limit:
            return chosen[:want]
        limit *= 4
