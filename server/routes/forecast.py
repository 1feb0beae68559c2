"""``GET /projects/{id}/forecast``: labels still needed to reach the target, from the curve so far."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from alloop.errors import Invalid
from alloop.routes import deps
from alloop.store import Store
from alloop.store.projects import get_project
from alloop.store.rounds import curve

router = APIRouter(tags=["results"])
TASK_METRICS = {"classification": ("accuracy", "macro_f1"), "multilabel": ("micro_f1", "macro_f1", "subset_accuracy"),
                "spans": ("entity_f1",)}
"""The metrics a forecast can follow, by project task (issue 20: micro_f1 by default for multilabel, entity_f1
for spans)."""


@router.get("/projects/{project_id}/forecast")
def project_forecast(
    project_id: deps.ProjectId,
    metric: Annotated[Literal["accuracy", "macro_f1", "micro_f1", "subset_accuracy", "entity_f1"] | None, Query()] = None,
    target: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    store: Store = Depends(deps.store),
) -> dict[str, Any]:
    """Fit an inverse power law to the eval curve; the project's target unless ``target``/``metric`` are given."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        points = curve(conn, project_id)
    goal = project.target or {}
    value = target if target is not None else goal.get("value")
    if value is None:
        raise Invalid(
            "no target: the project has none; pass ?target=0.9 (and optionally &metric=macro_f1)"
        )
    chosen = metric or goal.get("metric") or {"multilabel": "micro_f1", "spans": "entity_f1"}.get(project.task, "accuracy")
    accepted = TASK_METRICS.get(project.task, TASK_METRICS["classification"])
    if chosen not in accepted:
        raise Invalid(f"metric: {chosen!r} is not measured for a {project.task} project; accepted: {list(accepted)}")
    # scipy is loaded on the first forecast, not at server start.
    from alloop.simulate.forecast import forecast

    return {"project_id": project_id, **forecast(points, float(value), chosen)}
