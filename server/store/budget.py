"""The budget, counted in items (the default) or in labeling cost: what is spent, held and left.

An item's cost is its ``cost`` (NULL counts 1), so a campaign whose items carry no cost spends
the same in either unit. What final labels spent is one row of ``pool_counts`` that triggers
on ``labels`` keep (schema v8). What is held is what started items will spend: items under a
live lease, and with overlap the items that have votes but no final label yet (a small set).
/next leases a new item only while it fits in what is left, so a budget is never overrun by
the items in annotators' hands.

Reviews (:mod:`alloop.store.reviews`) count against the budget: a review is an annotator's time
like a label. ``pool_counts.reviewed`` / ``review_spent`` (schema v14) add to what is spent, and a
review under a live lease is held like a leased item.
"""

from __future__ import annotations

import sqlite3

from alloop.store.projects import Project, resume_project

__all__ = ["ROUNDING", "UNITS", "budget_and_pool", "charge", "exhausted", "held", "item_cost", "left", "resume_if_room", "spent"]

UNITS = ("items", "cost")
ROUNDING = 1e-9
"""Slack when a cost fits exactly in what is left (sums of float costs round)."""
ITEM_COST = "COALESCE({}.cost, 1.0)"
"""SQL for one item's cost in budget terms (``{}``: the items alias)."""


def _by_cost(project: Project) -> bool:
    return project.budget_unit == "cost"


def _spent_sql(project: Project) -> str:
    """SQL for what final labels and reviews have spent, from ``:p`` (see :func:`spent`)."""
    used = "spent - free_spent + review_spent" if _by_cost(project) else "labeled - free + reviewed"
    return f"(SELECT {used} FROM pool_counts WHERE project_id = :p)"


def spent(conn: sqlite3.Connection, project: Project) -> float:
    """What final labels and reviews have spent: their number, or their summed cost; labels
    propagated to exact duplicates (schema v14) cost nothing."""
    return float(conn.execute(f"SELECT {_spent_sql(project)}", {"p": project.id}).fetchone()[0] or 0.0)


def _held_sql(project: Project) -> str:
    """SQL for what started items will spend, from ``:p`` and ``:now`` (see :func:`held`); the
    reviews under a live lease only with review on."""
    measure = "SUM(" + ITEM_COST.format("i") + ")" if _by_cost(project) else "COUNT(*)"
    started = (
        f"(SELECT {measure} FROM items i WHERE i.idx IN ("
        "SELECT item_idx FROM tallies WHERE project_id = :p UNION "
        "SELECT item_idx FROM leases l WHERE l.project_id = :p AND l.expires_at > :now) AND i.labeled = 0)"
    )
    if project.review is None:  # no review items are leased (with review off every answer is a label)
        return f"COALESCE({started}, 0)"
    reviewing = (f"(SELECT {measure} FROM suspects s JOIN items i ON i.idx = s.item_idx "
                 "WHERE s.project_id = :p AND s.expires_at > :now)")
    return f"COALESCE({started}, 0) + COALESCE({reviewing}, 0)"


def held(conn: sqlite3.Connection, project: Project, now: float) -> float:
    """What started items will spend: live leases and, with overlap, items with votes, none labeled;
    and reviews under a live lease."""
    return float(conn.execute(f"SELECT {_held_sql(project)}", {"p": project.id, "now": now}).fetchone()[0] or 0.0)


def left(conn: sqlite3.Connection, project: Project, now: float) -> float | None:
    """What new items may still take (never below 0); None without a budget. One statement: /next asks
    it for every batch."""
    if project.budget is None:
        return None
    row = conn.execute(f"SELECT {_spent_sql(project)}, {_held_sql(project)}", {"p": project.id, "now": now}).fetchone()
    return max(0.0, project.budget - float(row[0] or 0.0) - float(row[1] or 0.0))


def item_cost(project: Project, cost: float | None) -> float:
    """What labeling one item takes from this project's budget."""
    return 1.0 if not _by_cost(project) or cost is None else float(cost)


def charge(project: Project, room: float | None, cost: float | None) -> tuple[bool, float | None]:
    """Whether an item of ``cost`` fits in ``room`` (what a submission may still spend; None: no
    budget), and the room left once it is taken."""
    if room is None:
        return True, None
    taken = item_cost(project, cost)
    if taken > room + ROUNDING:
        return False, room
    return True, room - taken


def exhausted(conn: sqlite3.Connection, project: Project) -> bool:
    """Whether the budget is spent: reached, or (in cost) no unlabeled item fits in what is left.

    Items under lease fit by construction, so a campaign with labels still to come is not
    exhausted.
    """
    return budget_and_pool(conn, project)[0]


def budget_and_pool(conn: sqlite3.Connection, project: Project) -> tuple[bool, bool]:
    """(:func:`exhausted`, whether any pool item is still unlabeled): what every label write and every
    round ask before deciding to stop, in one statement (a second probe for a cost budget that is not
    reached yet)."""
    spent_now, unlabeled = conn.execute(
        f"SELECT {_spent_sql(project)}, EXISTS (SELECT 1 FROM items i "
        "INDEXED BY items_open WHERE i.project_id = :p AND i.split = 'pool' AND i.labeled = 0)",
        {"p": project.id},
    ).fetchone()
    unlabeled = bool(unlabeled)
    if project.budget is None:
        return False, unlabeled
    rest = project.budget - float(spent_now or 0.0)
    if rest <= ROUNDING:
        return True, unlabeled
    if not _by_cost(project):
        return False, unlabeled
    if not unlabeled:  # in cost, nothing left that could fit: spent
        return True, unlabeled
    fits = conn.execute(
        "SELECT 1 FROM items i INDEXED BY items_open WHERE i.project_id = ? AND i.split = 'pool' AND i.labeled = 0 "
        "AND " + ITEM_COST.format("i") + " <= ? LIMIT 1",
        (project.id, rest + ROUNDING),
    ).fetchone()
    return fits is None, unlabeled


def resume_if_room(conn: sqlite3.Connection, project: Project) -> None:
    """Labels were taken back: a campaign stopped because its budget or pool ran out runs again."""
    if project.state != "done" or project.stop_reason not in ("budget_exhausted", "pool_exhausted"):
        return
    if not exhausted(conn, project):
        resume_project(conn, project.id)
