"""When a campaign stops: target, budget, pool, stabilized predictions; first match wins."""

from __future__ import annotations

from typing import Any

from server.store.projects import Project

__all__ = ["stop_reason"]


def stop_reason(
    project: Project, counts: dict[str, int], metrics: dict[str, Any], agreements: list[float | None]
) -> str | None:
    """The reason to stop now, or None to keep going.

    ``agreements`` are the newest models' prediction agreements with their predecessors,
    newest first (Bloodgood & Vijay-Shanker, 2009, "A method for stopping active learning
    based on stabilizing predictions").
    """
    target = project.target
    if target and target["metric"] in metrics and metrics[target["metric"]] >= target["value"]:
        return "target_reached"
    if project.budget is not None and counts["labeled"] >= project.budget:
        return "budget_exhausted"
    if counts["unlabeled"] == 0:
        return "pool_exhausted"
    rule = project.stabilize
    if rule and len(agreements) >= rule["rounds"]:
        recent = agreements[: rule["rounds"]]
        if all(a is not None and a >= rule["threshold"] for a in recent):
            return "stabilized"
    return None
