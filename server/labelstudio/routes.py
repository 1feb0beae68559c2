"""The Label Studio ML backend protocol, one backend per project under ``/projects/{id}/labelstudio``.

Paste ``http://HOST:PORT/projects/ID/labelstudio`` into Label Studio's Model settings. With
``ALLOOP_ADMIN_TOKEN`` set, choose Basic Authentication there: any user name, and the admin
token or a project admin token as the password (Bearer headers work too).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from server.auth import Caller, require_token
from server.errors import Invalid, Unauthorized
from server.labelstudio.config import check_labels, choices_control
from server.labelstudio.ingest import handle_event
from server.labelstudio.predict import ModelCache, current_version, predict_tasks, version_name
from server.loop import Controller
from server.routes import deps
from server.store import Store
from server.store.projects import get_project

__all__ = ["router", "require_backend_token"]

MAX_TASKS = 10_000


async def require_backend_token(request: Request) -> Caller:
    """The project admin check; also takes HTTP Basic auth (password = token), as Label Studio sends it."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            password = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic authorization header") from None
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
        headers.append((b"authorization", f"Bearer {password}".encode()))
        request = Request({**request.scope, "headers": headers})
    return await require_token(request)


router = APIRouter(prefix="/projects/{project_id}/labelstudio", tags=["labelstudio"],
                   dependencies=[Depends(require_backend_token)])


def _cache(request: Request) -> ModelCache:
    cache = getattr(request.app.state, "labelstudio_models", None)
    if cache is None:
        cache = request.app.state.labelstudio_models = ModelCache()
    return cache


def _version(store: Store, project_id: int) -> str:
    with store.read() as conn:
        get_project(conn, project_id)
        return version_name(current_version(conn, project_id))


@router.get("/health")
@router.get("")
@router.get("/")
def health(project_id: int, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Label Studio's connection check: ``{"status": "UP", "model_version"}``."""
    return {"status": "UP", "model_class": "alloop", "model_version": _version(store, project_id)}


@router.post("/setup")
def setup(project_id: int, payload: dict[str, Any] | None = Body(None),
          store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Check the labeling config against the project's labels; answers ``{"model_version"}``."""
    schema = (payload or {}).get("schema")
    with store.read() as conn:
        labels = get_project(conn, project_id).labels
    check_labels(choices_control(schema if isinstance(schema, str) else None), labels)
    return {"model_version": _version(store, project_id)}


@router.post("/predict")
def predict(project_id: int, request: Request, payload: dict[str, Any] | None = Body(None),
            store: Store = Depends(deps.store)) -> dict[str, Any]:
    """One Choices prediction per task, in order; ``score`` is confidence (lowest = label first)."""
    _version(store, project_id)  # 404 first
    payload = payload or {}
    tasks = payload.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise Invalid("tasks must be a list of Label Studio tasks")
    if len(tasks) > MAX_TASKS:
        raise Invalid(f"at most {MAX_TASKS} tasks per call, got {len(tasks)}")
    config = payload.get("label_config")
    control = choices_control(config if isinstance(config, str) else None)
    return predict_tasks(store, _cache(request), project_id, tasks, control)


@router.post("/webhook")
def webhook(project_id: int, payload: dict[str, Any] | None = Body(None), store: Store = Depends(deps.store),
            controller: Controller = Depends(deps.controller)) -> dict[str, Any]:
    """Annotation created/updated/deleted and START_TRAINING: one short write, retraining in the background."""
    _version(store, project_id)  # 404 first, whatever the event
    answer = handle_event(store, project_id, payload or {}, time.time())
    if answer.pop("wake"):
        controller.wake()
    return answer


@router.post("/train")
def train(project_id: int, payload: dict[str, Any] | None = Body(None), store: Store = Depends(deps.store),
          controller: Controller = Depends(deps.controller)) -> dict[str, Any]:
    """Older Label Studio's train call: labels arrive by webhook, so this only wakes the loop."""
    _version(store, project_id)
    controller.wake()
    return {"job": None}


@router.get("/versions")
def versions(project_id: int, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Every model version this project has had, oldest first."""
    with store.read() as conn:
        get_project(conn, project_id)
        rows = conn.execute(
            "SELECT version FROM model_versions WHERE project_id = ? ORDER BY version", (project_id,)
        ).fetchall()
    return {"versions": [version_name(None)] + [version_name(r[0]) for r in rows]}
