"""When a campaign stops: target, budget, pool, stabilized predictions; first match wins."""

from __future__ import annotations

import sqlite3
from typing import Any

from alloop.store.budget import budget_and_pool
from alloop.store.projects import Project

__all__ = ["pool_state", "stop_reason"]


def pool_state(conn: sqlite3.Connection, project: Project) -> dict[str, Any]:
    """What the stop rules read of the pool: budget spent, anything left unlabeled.

    Two index probes and one row: counting the whole pool (6 ms at 60k items) would hold up
    every request write queued behind a round's.
    """
    spent_all, unlabeled = budget_and_pool(conn, project)
    return {"budget_exhausted": spent_all, "unlabeled": int(unlabeled)}


def stop_reason(
    project: Project, pool: dict[str, Any], metrics: dict[str, Any], agreements: list[float | None]
) -> str | None:
    """The reason to stop now, or None to keep going; ``pool`` is :func:`pool_state`.

    ``agreements`` are the newest models' prediction agreements with their predecessors,
    newest first (Bloodgood & Vijay-Shanker, 2009, "A method for stopping active learning
    based on stabilizing predictions").
    """
    target = project.target
    if target and target["metric"] in metrics and metrics[target["metric"]] >= target["value"]:
        return "target_reached"
    if pool["budget_exhausted"]:
        return "budget_exhausted"
    if pool["unlabeled"] == 0:
        return "pool_exhausted"
    rule = project.stabilize
    if rule and len(agreements) >= rule["rounds"]:
        recent = agreements[: rule["rounds"]]
        if all(a is not None and a >= rule["threshold"] for a in recent):
            return "stabilized"
    return None
