"""``/next``: lease the top of the ranking that nobody holds, in one transaction.

With overlap (``labels_per_item`` k > 1) an item may be leased to k distinct annotators at
once, less the votes it already has, never twice to one annotator, and never to one who
voted on it. /next first completes items others have started (best ranked first), then
starts new ones while the budget allows (:mod:`alloop.store.budget`: in items, or in cost,
where an item is leased only if its cost fits in what is left).

Bounded staleness: a project's ``max_stale_labels`` caps how many labels may have arrived since
the served ranking was computed. Past it, or before the first ranking exists (the pool still
embedding, the cold start being computed), /next leases nothing new and says why in
``waiting`` (``"training"``, ``"embedding"``, ``"cold_start"``, ``"awaiting_labels"``); the
route long-polls on that.
The rest of the pool, unranked, is served only when no new ranking is coming (NULL cap: as
before, whenever the ranking runs out). Every leased item records what chose it: the
ranking's strategy and model version, or ``"unranked"``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from alloop.quality.batches import one_per_group
from alloop.store.budget import ITEM_COST, ROUNDING, left
from alloop.store.db import Store
from alloop.store.items import has_unlabeled, labeled_count
from alloop.store.projects import Project, get_project
from alloop.store.reviews import REVIEW, claim_reviews, review_slots
from alloop.store.rounds import CURRENT_GEN

__all__ = [
    "COLD_START", "UNRANKED", "WAITABLE", "claim_next", "claim_write", "pool_open", "queue_open", "renewing",
    "round_due",
]

COLD_START = "cold_start:"
"""Prefix of the strategy of a ranking made by the cold-start rule (no model ranked it)."""
UNRANKED = "unranked"
"""The strategy recorded for an item served past the ranking, in the pool's seeded random order."""
WAITABLE = ("training", "embedding", "cold_start", "awaiting_labels")
"""Why /next may answer nothing new for a while: a fresh ranking is on its way (after the labels
of the items the served one handed out, for ``awaiting_labels``)."""


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


def _ranking(conn: sqlite3.Connection, project_id: int) -> sqlite3.Row | None:
    """The served ranking: its model version, strategy, when it landed and the labels it was computed on."""
    return conn.execute(
        "SELECT model_version, strategy, n_labels, created_at FROM rankings WHERE project_id = ?", (project_id,)
    ).fetchone()


def round_due(conn: sqlite3.Connection, project_id: int) -> bool:
    """Whether the labels that arrived since the served ranking reach the project's retrain interval."""
    ranking = _ranking(conn, project_id)
    behind = labeled_count(conn, project_id) - (ranking["n_labels"] if ranking else 0)
    return behind >= get_project(conn, project_id).retrain_every


def _handed_out(conn: sqlite3.Connection, project_id: int, since: float, now: float) -> int:
    """Items leased since the served ranking landed that are still out (their labels are yet to come)."""
    return conn.execute(
        "SELECT COUNT(DISTINCT l.item_idx) FROM leases l JOIN batches b ON b.id = l.batch_id "
        "WHERE l.project_id = ? AND l.expires_at > ? AND b.created_at >= ?",
        (project_id, now, since),
    ).fetchone()[0]


def queue_open(conn: sqlite3.Connection, project_id: int, now: float) -> bool:
    """Whether the served ranking still holds an item nobody labeled and nobody holds."""
    return bool(_from_queue(conn, project_id, now, 1))


def pool_open(conn: sqlite3.Connection, project_id: int, now: float) -> bool:
    """Whether some unlabeled pool item with its vector is free (under no live lease)."""
    return bool(_from_pool(conn, project_id, now, 1, set()))


def renewing(ranking: sqlite3.Row, labeled: int) -> bool:
    """Whether the loop makes a new ranking once this one runs out: a model round on the labels
    that arrived since, or (no model ranked it) the cold-start rule again over what is left."""
    return labeled > ranking["n_labels"] or str(ranking["strategy"]).startswith(COLD_START)


def _candidates(
    conn: sqlite3.Connection, project: Project, now: float, want: int, overlap: bool, max_cost: float | None,
    unranked: bool,
) -> list[tuple[int, float | None, float, bool]]:
    """Up to ``want`` free items: (idx, score, cost, ranked), the top of the ranking, then (with
    ``unranked``) the pool."""
    fresh = [(i, score, cost, True) for i, score, cost in _from_queue(conn, project.id, now, want, overlap, max_cost)]
    if len(fresh) < want and (unranked or queue_open(conn, project.id, now)):
        taken = {i for i, _, _, _ in fresh}
        fresh += [(i, score, cost, False) for i, score, cost in
                  _from_pool(conn, project.id, now, want - len(fresh), taken, overlap, max_cost)]
    return fresh


Fresh = tuple[int, "float | None", bool]
"""A newly leased item: its idx, its score, and whether the ranking chose it (else: unranked)."""


def _new_items(
    conn: sqlite3.Connection, project: Project, now: float, want: int, room: float | None, overlap: bool = False,
    unranked: bool = True,
) -> list[Fresh]:
    """Up to ``want`` items nobody holds, within ``room`` of the budget: the top of the ranking, then
    (with ``unranked``) the pool.

    In cost, an item is taken when its cost still fits in what is left after the ones before
    it, so near the end of a budget a batch can come back short while cheaper items remain.
    """
    by_cost = room is not None and project.budget_unit == "cost"
    if room is not None and not by_cost:
        want = min(want, int(room))
    if want <= 0 or (by_cost and room <= 0):
        return []
    max_cost = room if by_cost else None
    if project.dedup == "off":
        fresh = _candidates(conn, project, now, want, overlap, max_cost, unranked)
    else:
        fresh = one_per_group(conn, project.id, now, want,
                              lambda limit: _candidates(conn, project, now, limit, overlap, max_cost, unranked))
    chosen = []
    for idx, score, cost, ranked in fresh:
        if by_cost:
            if cost > room + ROUNDING:
                continue
            room -= cost
        chosen.append((idx, score, ranked))
    return chosen


# Started items (some votes or a live lease, no final label): slots used (votes plus live
# leases), whether this annotator voted on or holds it, and where the ranking puts it.
_STARTED = """
WITH live AS (
  SELECT item_idx, COUNT(*) AS used, MAX(CASE WHEN annotator = :who THEN 1 ELSE 0 END) AS mine FROM leases
  WHERE project_id = :pid AND expires_at > :now GROUP BY item_idx
), started AS (
  SELECT t.item_idx, t.votes AS used,
         CASE WHEN EXISTS (SELECT 1 FROM votes v WHERE v.item_idx = t.item_idx AND v.annotator = :who) THEN 1 ELSE 0 END AS mine
  FROM tallies t WHERE t.project_id = :pid
  UNION ALL SELECT item_idx, used, mine FROM live
)
SELECT s.item_idx, SUM(s.used) AS used, MAX(s.mine) AS mine,
       (SELECT q.rank FROM queue q WHERE q.project_id = :pid AND q.item_idx = s.item_idx AND q.gen = {gen}) AS rank,
       (SELECT q.score FROM queue q WHERE q.project_id = :pid AND q.item_idx = s.item_idx AND q.gen = {gen}) AS score,
       (SELECT i.order_key FROM items i WHERE i.idx = s.item_idx) AS order_key
FROM started s WHERE NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = s.item_idx)
AND (SELECT i.labeled FROM items i WHERE i.idx = s.item_idx) = 0
GROUP BY s.item_idx
""".format(gen=CURRENT_GEN.format(":pid"))


def _overlap_fresh(
    conn: sqlite3.Connection, project: Project, annotator: str, now: float, want: int, room: int | None,
    unranked: bool,
) -> list[Fresh]:
    """With overlap: free slots on started items this annotator never saw, then new items (at most
    ``room`` of them: a started item's label is already counted against the staleness cap)."""
    if want <= 0:
        return []
    started = conn.execute(_STARTED, {"who": annotator, "pid": project.id, "now": now}).fetchall()
    open_ = [r for r in started if not r["mine"] and r["used"] < project.labels_per_item]
    open_.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["order_key"]))
    fresh = [(r["item_idx"], r["score"], r["rank"] is not None) for r in open_[:want]]
    more = want - len(fresh) if room is None else min(want - len(fresh), room)
    # started items are already spoken for in the budget (what is left counts them as held)
    return fresh + _new_items(conn, project, now, more, left(conn, project, now), overlap=True, unranked=unranked)


def claim_next(
    store: Store, project_id: int, annotator: str, n: int | None, now: float, *, fresh_only: bool = True,
    only: str | None = None,
) -> dict[str, Any]:
    """Lease up to ``n`` items (default: the project's batch size) to ``annotator``: those it
    holds, then the best free ones. One write transaction (group-committed on the server)."""
    return store.transact(claim_write(project_id, annotator, n, now, fresh_only=fresh_only, only=only))


def claim_write(
    project_id: int, annotator: str, n: int | None, now: float, *, fresh_only: bool = True, only: str | None = None
) -> Callable[[sqlite3.Connection], dict[str, Any]]:
    """The write :func:`claim_next` makes, for :meth:`Store.transact_async`.

    ``fresh_only=False`` serves past the project's ``max_stale_labels`` (the route asks for it
    while the loop's last round failed: annotators keep working on what there is). With review on,
    ``round(share x n)`` of the batch goes to suspected label errors first
    (:func:`alloop.store.reviews.claim_reviews`); ``only="review"``: review items alone.
    """
    return lambda conn: _claim(conn, project_id, annotator, n, now, fresh_only, only)


def _fresh_room(
    conn: sqlite3.Connection, project: Project, ranking: sqlite3.Row | None, stale: int | None, now: float
) -> tuple[int | None, str | None]:
    """How many new items the served ranking may still hand out under the project's staleness cap
    (None: no limit), and why it may hand out none.

    The cap counts the labels that arrived since the ranking was computed plus the items it has
    handed out since it landed: both are labels the ranking will not have seen. Items handed out
    by older rankings are not counted again, so slow annotators holding big batches do not keep
    the others waiting.
    """
    if project.max_stale_labels is None:
        return None, None
    if ranking is None:
        unembedded = conn.execute(
            "SELECT 1 FROM items WHERE project_id = ? AND split = 'pool' AND row IS NULL LIMIT 1", (project.id,)
        ).fetchone()
        if unembedded:
            return 0, "embedding"
        return (0, "cold_start") if has_unlabeled(conn, project.id) else (None, None)
    room = project.max_stale_labels - stale - _handed_out(conn, project.id, ranking["created_at"], now)
    if room > 0:
        return room, None
    # A round is due (or running) once retrain_every labels came in; until then, the items out
    # with annotators must come back labeled first.
    return 0, "training" if stale >= project.retrain_every else "awaiting_labels"


def _next_expiry(conn: sqlite3.Connection, project_id: int, now: float) -> float | None:
    row = conn.execute(
        "SELECT MIN(expires_at) FROM leases WHERE project_id = ? AND expires_at > ?", (project_id, now)
    ).fetchone()
    return row[0]


def _reviews_only(
    conn: sqlite3.Connection, project: Project, annotator: str, n: int, now: float, expires: float
) -> dict[str, Any]:
    """A reviewer's batch: up to ``n`` review items, or none and ``waiting: "no_reviews"``."""
    chosen = [(idx, score, version, REVIEW) for idx, score, version in
              claim_reviews(conn, project, annotator, now, expires, n if project.review is not None else 0)]
    return {"items": _describe(conn, chosen), "expires_at": expires if chosen else None, "done": False,
            "reason": None, "waiting": None if chosen else "no_reviews", "ranking": None, "project": project}


def _claim(
    conn: sqlite3.Connection, project_id: int, annotator: str, n: int | None, now: float, fresh_only: bool = True,
    only: str | None = None,
) -> dict[str, Any]:
    project = get_project(conn, project_id)
    n = project.batch_size if n is None else n
    if project.state == "done":
        return {"items": [], "expires_at": None, "done": True, "reason": project.stop_reason, "waiting": None,
                "ranking": None}
    expires = now + project.lease_seconds
    if only == REVIEW:
        return _reviews_only(conn, project, annotator, n, now, expires)
    reviews = [(idx, score, version, REVIEW) for idx, score, version in
               claim_reviews(conn, project, annotator, now, expires, review_slots(project, n))]
    n -= len(reviews)
    held = _held(conn, project_id, annotator, now, n)
    if held:  # a re-poll renews what it holds
        conn.executemany(
            "UPDATE leases SET expires_at = ? WHERE item_idx = ? AND annotator = ?",
            [(expires, r[0], annotator) for r in held],
        )
    ranking = _ranking(conn, project_id)
    labeled = labeled_count(conn, project_id)
    stale = None if ranking is None else labeled - ranking["n_labels"]
    room, waiting = _fresh_room(conn, project, ranking, stale, now) if fresh_only else (None, None)
    # Past the ranking, the unranked pool only when no new ranking is coming (or nobody asked to wait).
    unranked = project.max_stale_labels is None or not fresh_only or ranking is None or not renewing(ranking, labeled)
    if project.labels_per_item > 1:
        # free slots on started items add no label the ranking has not counted: served even at the cap
        want = n - len(held) if waiting is None or ranking is not None else 0
        fresh = _overlap_fresh(conn, project, annotator, now, want, room, unranked)
        waiting = None if fresh else waiting
    else:
        want = n - len(held) if room is None else min(n - len(held), room)
        fresh = _new_items(conn, project, now, want, left(conn, project, now), unranked=unranked)
    version, strategy = (ranking["model_version"], ranking["strategy"]) if ranking else (None, None)
    expiry = None
    if want > 0 and not fresh and not held and not reviews and waiting is None:
        waiting, expiry = _empty_reason(conn, project, ranking, labeled, now, unranked)
    # what chose each new item: the ranking, or nothing (the pool's random order)
    served = [(idx, score, *((version, strategy) if ranked else (None, UNRANKED))) for idx, score, ranked in fresh]
    if served:
        _lease(conn, project_id, annotator, now, expires, served, version, strategy, stale)
    chosen = reviews + [(r[0], r[1], r[2], r[3]) for r in held] + served
    answer: dict[str, Any] = {
        "items": _describe(conn, chosen),
        "expires_at": expires if chosen else None,
        "done": False,
        "reason": None,
        "waiting": None if chosen else waiting,
        "ranking": None if ranking is None else {
            "model_version": version, "strategy": strategy, "labels": ranking["n_labels"], "stale_labels": stale,
        },
        "project": project,
    }
    if not chosen and waiting == "leased":
        answer["next_expiry"] = expiry
    return answer


def _lease(
    conn: sqlite3.Connection, project_id: int, annotator: str, now: float, expires: float,
    served: list[tuple[int, float | None, int | None, str | None]], version: int | None, strategy: str | None,
    stale: int | None,
) -> None:
    """Record the batch (the ranking it came from, how stale it was) and lease its items to ``annotator``,
    each with its score, model version and strategy."""
    batch_id = conn.execute(
        "INSERT INTO batches (project_id, annotator, created_at, model_version, strategy, items, stale_labels) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (project_id, annotator, now, version, strategy, json.dumps([(i, s) for i, s, _, _ in served]), stale),
    ).lastrowid
    # an expired lease on the item (anyone's) gives way to the new one
    conn.executemany("DELETE FROM leases WHERE item_idx = ? AND expires_at <= ?", [(row[0], now) for row in served])
    conn.executemany(
        "INSERT OR REPLACE INTO leases (item_idx, project_id, annotator, expires_at, batch_id, "
        "position, score, model_version, strategy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(idx, project_id, annotator, expires, batch_id, pos, score, item_version, item_strategy)
         for pos, (idx, score, item_version, item_strategy) in enumerate(served)],
    )


def _empty_reason(
    conn: sqlite3.Connection, project: Project, ranking: sqlite3.Row | None, labeled: int, now: float, unranked: bool
) -> tuple[str, float | None]:
    """Why a running campaign had nothing new to lease: a new ranking is on its way (``training``,
    ``cold_start``), others hold what is left (``leased``, with the first lease's expiry), or the
    pool has nothing to serve (``empty``)."""
    if not unranked and ranking is not None and not queue_open(conn, project.id, now):
        return ("training" if labeled > ranking["n_labels"] else "cold_start"), None
    expiry = _next_expiry(conn, project.id, now)
    return ("leased" if expiry is not None else "empty"), expiry


def _describe(
    conn: sqlite3.Connection, chosen: list[tuple[int, float | None, int | None, str | None]]
) -> list[dict[str, Any]]:
    if not chosen:
        return []
    marks = ",".join("?" * len(chosen))
    rows = {
        r["idx"]: r
        for r in conn.execute(
            f"SELECT i.idx, i.ext_id, i.row, i.text, i.meta, m.image FROM items i "
            f"LEFT JOIN item_images m ON m.item_idx = i.idx WHERE i.idx IN ({marks})", [c[0] for c in chosen])
    }
    return [
        {
            "idx": idx, "id": rows[idx]["ext_id"], "row": rows[idx]["row"], "text": rows[idx]["text"],
            "meta": json.loads(rows[idx]["meta"]) if rows[idx]["meta"] else None, "image": rows[idx]["image"],
            "score": score, "model_version": version, "strategy": strategy,
        }
        for idx, score, version, strategy in chosen
    ]
