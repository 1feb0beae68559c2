"""Project routes: create, list, read, change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from alloop import campaign
from alloop.auth import Caller, identify, require_server_admin, require_token
from alloop.loop import Controller
from alloop.routes import deps
from alloop.schemas import ProjectCreate, ProjectPatch
from alloop.settings import Settings
from alloop.store import Store

router = APIRouter(tags=["projects"])


@router.post("/projects", status_code=201, dependencies=[Depends(require_server_admin)])
def create_project(
    body: ProjectCreate,
    store: Store = Depends(deps.store),
    settings: Settings = Depends(deps.settings),
    controller: Controller = Depends(deps.controller),
) -> dict[str, Any]:
    """Create a labeling campaign; answers the project with its id."""
    project = campaign.create_project(store, settings, body)
    return campaign.project_status(store, controller, project.id)


@router.get("/projects")
def list_projects(
    store: Store = Depends(deps.store),
    controller: Controller = Depends(deps.controller),
    caller: Caller = Depends(identify),
) -> dict[str, Any]:
    """Every project with its status (a project token sees its own project)."""
    projects = campaign.all_statuses(store, controller)
    if caller.role in ("admin", "annotator"):
        projects = [p for p in projects if p["id"] == caller.project_id and caller.role == "admin"]
    return {"projects": projects}


@router.get("/projects/{project_id}", dependencies=[Depends(require_token)])
def get_project(
    project_id: deps.ProjectId, store: Store = Depends(deps.store), controller: Controller = Depends(deps.controller)
) -> dict[str, Any]:
    """A project's configuration, state, counts and newest metrics."""
    return campaign.project_status(store, controller, project_id)


@router.patch("/projects/{project_id}", dependencies=[Depends(require_token)])
def patch_project(
    project_id: deps.ProjectId,
    body: ProjectPatch,
    store: Store = Depends(deps.store),
    controller: Controller = Depends(deps.controller),
) -> dict[str, Any]:
    """Change strategy, batch size, budget, target, retrain interval or lease time."""
    campaign.patch_project(store, project_id, body)
    controller.wake()
    return campaign.project_status(store, controller, project_id)
