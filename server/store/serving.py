"""``/next``: lease the top of the ranking that nobody holds, in one transaction.

With overlap (``labels_per_item`` k > 1) an item may be leased to k distinct annotators at
once, less the votes it already has, never twice to one annotator, and never to one who
voted on it. /next first completes items others have started (best ranked first), then
starts new ones while the budget allows (:mod:`server.store.budget`: in items, or in cost,
where an item is leased only if its cost fits in what is left).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from server.store.budget import ITEM_COST, ROUNDING, left
from server.store.db import Store
from server.store.projects import Project, get_project
from server.store.rounds import CURRENT_GEN

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


# With overlap, a new item also has no votes yet (an item with some is "started").
_UNVOTED = {False: "", True: "AND NOT EXISTS (SELECT 1 FROM tallies t WHERE t.item_idx = {}) "}


def _fitting(alias: str, max_cost: float | None) -> tuple[str, str, tuple[float, ...]]:
    """(cost column, filter, its parameters): items whose cost fits in ``max_cost`` (None: any item, cost 1)."""
    if max_cost is None:
        return "1.0", "", ()
    cost = ITEM_COST.format(alias)
    return cost, f"AND {cost} <= ? ", (max_cost,)


def _from_queue(
    conn: sqlite3.Connection, project_id: int, now: float, n: int, overlap: bool = False,
    max_cost: float | None = None,
) -> list[tuple[int, float | None, float]]:
    """The top of the served ranking that nobody holds: (item, score, cost)."""
    cost, fit, args = _fitting("i", max_cost)
    join = "JOIN items i ON i.idx = q.item_idx " if max_cost is not None else ""
    rows = conn.execute(
        f"SELECT q.item_idx, q.score, {cost} FROM queue q {join}WHERE q.project_id = ? AND q.gen = "
        + CURRENT_GEN.format("?") + " "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = q.item_idx) "
        "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_idx = q.item_idx AND l.expires_at > ?) "
        + _UNVOTED[overlap].format("q.item_idx") + fit + "ORDER BY q.rank LIMIT ?",
        (project_id, project_id, now, *args, n),
    )
    return [(r[0], r[1], r[2]) for r in rows]


def _from_pool(
    conn: sqlite3.Connection, project_id: int, now: float, n: int, taken: set[int], overlap: bool = False,
    max_cost: float | None = None,
) -> list[tuple[int, float | None, float]]:
    """Past the stored ranking: the rest of the pool in its seeded random order, unscored.

    Walks the open-pool index (unlabeled items in serving order), so it reads past live leases
    only, never past labeled items.
    """
    cost, fit, args = _fitting("i", max_cost)
    rows = conn.execute(
        f"SELECT i.idx, {cost} FROM items i INDEXED BY items_open WHERE i.project_id = ? AND i.split = 'pool' "
        "AND i.labeled = 0 AND i.row IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_idx = i.idx AND l.expires_at > ?) "
        + _UNVOTED[overlap].format("i.idx") + fit + "ORDER BY i.order_key LIMIT ?",
        (project_id, now, *args, n + len(taken)),
    )
    return [(r[0], None, r[1]) for r in rows if r[0] not in taken][:n]


def _ranking(conn: sqlite3.Connection, project_id: int) -> tuple[int | None, str | None]:
    row = conn.execute(
        "SELECT model_version, strategy FROM rankings WHERE project_id = ?", (project_id,)
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def _new_items(
    conn: sqlite3.Connection, project: Project, now: float, want: int, room: float | None, overlap: bool = False
) -> list[tuple[int, float | None]]:
    """Up to ``want`` items nobody holds, within ``room`` of the budget: the top of the ranking, then the pool.

    In cost, an item is taken when its cost still fits in what is left after the ones before
    it, so near the end of a budget a batch can come back short while cheaper items remain.
    """
    by_cost = room is not None and project.budget_unit == "cost"
    if room is not None and not by_cost:
        want = min(want, int(room))
    if want <= 0 or (by_cost and room <= 0):
        return []
    max_cost = room if by_cost else None
    fresh = _from_queue(conn, project.id, now, want, overlap, max_cost)
    if len(fresh) < want:
        fresh += _from_pool(conn, project.id, now, want - len(fresh), {i for i, _, _ in fresh}, overlap, max_cost)
    chosen = []
    for idx, score, cost in fresh:
        if by_cost:
            if cost > room + ROUNDING:
                continue
            room -= cost
        chosen.append((idx, score))
    return chosen


# Started items (some votes or a live lease, no final label): slots used (votes plus live
# leases), whether this annotator voted on or holds it, and where the ranking puts it.
_STARTED = """
WITH live AS (
  SELECT item_idx, COUNT(*) AS used, MAX(annotator = :who) AS mine FROM leases
  WHERE project_id = :pid AND expires_at > :now GROUP BY item_idx
), started AS (
  SELECT t.item_idx, t.votes AS used,
         EXISTS (SELECT 1 FROM votes v WHERE v.item_idx = t.item_idx AND v.annotator = :who) AS mine
  FROM tallies t WHERE t.project_id = :pid
  UNION ALL SELECT item_idx, used, mine FROM live
)
SELECT s.item_idx, SUM(s.used) AS used, MAX(s.mine) AS mine,
       (SELECT q.rank FROM queue q WHERE q.project_id = :pid AND q.item_idx = s.item_idx AND q.gen = {gen}) AS rank,
       (SELECT q.score FROM queue q WHERE q.project_id = :pid AND q.item_idx = s.item_idx AND q.gen = {gen}) AS score,
       (SELECT i.order_key FROM items i WHERE i.idx = s.item_idx) AS order_key
FROM started s WHERE NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = s.item_idx)
GROUP BY s.item_idx
""".format(gen=CURRENT_GEN.format(":pid"))


def _overlap_fresh(
    conn: sqlite3.Connection, project: Project, annotator: str, now: float, want: int
) -> list[tuple[int, float | None]]:
    """With overlap: free slots on started items this annotator never saw, then new items."""
    if want <= 0:
        return []
    started = conn.execute(_STARTED, {"who": annotator, "pid": project.id, "now": now}).fetchall()
    open_ = [r for r in started if not r["mine"] and r["used"] < project.labels_per_item]
    open_.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["order_key"]))
    fresh = [(r["item_idx"], r["score"]) for r in open_[:want]]
    # started items are already spoken for in the budget (what is left counts them as held)
    return fresh + _new_items(conn, project, now, want - len(fresh), left(conn, project, now), overlap=True)


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
        "UPDATE leases SET expires_at = ? WHERE item_idx = ? AND annotator = ?",
        [(expires, r[0], annotator) for r in held],
    )
    version, strategy = _ranking(conn, project_id)
    if project.labels_per_item > 1:
        fresh = _overlap_fresh(conn, project, annotator, now, n - len(held))
    else:
        fresh = _new_items(conn, project, now, n - len(held), left(conn, project, now))
    batch_id = None
    if fresh:
        batch_id = conn.execute(
            "INSERT INTO batches (project_id, annotator, created_at, model_version, strategy, items) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, annotator, now, version, strategy, json.dumps(fresh)),
        ).lastrowid
        # an expired lease on the item (anyone's) gives way to the new one
        conn.executemany("DELETE FROM leases WHERE item_idx = ? AND expires_at <= ?", [(idx, now) for idx, _ in fresh])
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
