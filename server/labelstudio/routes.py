"""The Label Studio ML backend protocol, one backend per project under ``/projects/{id}/labelstudio``.

Paste ``http://HOST:PORT/projects/ID/labelstudio`` into Label Studio's Model settings. With
``ALLOOP_ADMIN_TOKEN`` set, choose Basic Authentication there: any user name, and the admin
token or a project admin token as the password (Bearer headers work too).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field

from alloop.auth import Caller, require_token
from alloop.errors import Invalid, NotFound, Unauthorized, Upstream
from alloop.labelstudio.config import check_labels, choices_control
from alloop.labelstudio.connection import drop_link, get_link, public, save_link
from alloop.labelstudio.ingest import handle_event
from alloop.labelstudio.lsapi import LabelStudio, LabelStudioError
from alloop.labelstudio.predict import ModelCache, current_version, predict_tasks, version_name
from alloop.labelstudio.push import resume
from alloop.loop import Controller
from alloop.routes import deps
from alloop.schemas import Strict
from alloop.store import Store
from alloop.store.projects import get_project
from alloop.store.serving import round_due

__all__ = ["require_backend_token", "router"]

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
def webhook(project_id: int, request: Request, payload: dict[str, Any] | None = Body(None),
            store: Store = Depends(deps.store), controller: Controller = Depends(deps.controller)) -> dict[str, Any]:
    """Annotation created/updated/deleted and START_TRAINING: one short write, retraining in the background."""
    _version(store, project_id)  # 404 first, whatever the event
    answer = handle_event(store, project_id, payload or {}, time.time())
    if answer.pop("wake"):
        with store.read() as conn:
            controller.wake(urgent=round_due(conn, project_id))
        _agent(request).wake()  # the label may have stopped the campaign: Label Studio stops serving
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


class LinkIn(Strict):
    """Where the server reaches the Label Studio project it keeps in step, and with which token."""

    url: str = Field(min_length=1, max_length=2000, description="Label Studio's base URL, as alloop reaches it.")
    token: str = Field(min_length=1, max_length=4000, description="A Label Studio API token (kept by the server).")
    ls_project: int = Field(ge=1, description="The Label Studio project id.")
    mode: Literal["backend", "push"] = Field(
        "backend", description="backend: Label Studio also calls alloop as its ML backend; push: webhook only.")


def _agent(request: Request) -> Any:
    return request.app.state.labelstudio


def _link_of(store: Store, project_id: int) -> Any:
    with store.read() as conn:
        get_project(conn, project_id)
        link = get_link(conn, project_id)
    if link is None:
        raise NotFound(f"project {project_id} has no Label Studio link; PUT one (alloop labelstudio connect does)")
    return link


@router.put("/link")
def put_link(project_id: int, body: LinkIn, request: Request, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Link the project to a Label Studio project: from now on the server pushes each ranking there,
    reconciles annotations, and stops Label Studio serving while the campaign is stopped."""
    _version(store, project_id)  # 404 first
    try:
        with LabelStudio(body.url, body.token, timeout=15.0) as ls:
            ls.project(body.ls_project)
    except LabelStudioError as exc:
        raise Invalid(f"Label Studio at {body.url} refused project {body.ls_project}: {exc}") from None
    except httpx.HTTPError as exc:
        raise Invalid(f"Label Studio at {body.url} is unreachable from alloop: {exc}") from None
    with store.write() as conn:
        link = save_link(conn, project_id, body.url, body.token, body.ls_project, body.mode)
    _agent(request).wake()
    return public(link)


@router.get("/link")
def read_link(project_id: int, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """The link and what the server last did with it (the token is never shown)."""
    return public(_link_of(store, project_id))


@router.delete("/link")
def delete_link(project_id: int, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Stop keeping Label Studio in step. Tasks a stopped campaign had marked done there are
    unmarked first (where Label Studio can be reached); all else in Label Studio stays as it is."""
    link = _link_of(store, project_id)
    answer: dict[str, Any] = {}
    if link.paused:
        try:
            with LabelStudio(link.url, link.token, timeout=15.0) as ls:
                answer["unmarked"] = resume(store, link, ls)
        except (LabelStudioError, httpx.HTTPError) as exc:
            answer["unmarked_error"] = f"{type(exc).__name__}: {exc}"[:500]
    with store.write() as conn:
        return {"deleted": drop_link(conn, project_id), **answer}


@router.post("/sync")
def sync(project_id: int, request: Request, _: dict[str, Any] | None = Body(None),
         store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Reconcile annotations, pause or resume, and push the ranking now; answers what changed (no body)."""
    link = _link_of(store, project_id)
    try:
        return _agent(request).step(link, force=True)
    except LabelStudioError as exc:
        raise Upstream(f"Label Studio at {link.url} refused: {exc}") from None
    except httpx.HTTPError as exc:
        raise Upstream(f"Label Studio at {link.url} is unreachable from alloop: {exc}") from None
