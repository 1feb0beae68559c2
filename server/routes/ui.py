"""The built-in labeling page and dashboard: static HTML + vanilla JS from ``alloop/static`` (``server/static`` in the source tree).

The pages hold no data; every API call they make carries the token the user enters (kept in
the browser's localStorage), so auth is exactly that of the JSON API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, RedirectResponse

from alloop.auth import require_annotator
from alloop.errors import NotFound
from alloop.routes import deps
from alloop.store import Store
from alloop.store.projects import get_project

__all__ = ["router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_ASSETS = {
    "app.css": "text/css", "api.js": "text/javascript", "label.js": "text/javascript",
    "dashboard.js": "text/javascript", "chart.js": "text/javascript", "index.js": "text/javascript",
    "label_multi.js": "text/javascript",
    "spans.js": "text/javascript",  # spans projects: the span labeling page
}
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["ui"])


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=_NO_CACHE)


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """A person opening the server's address lands on the project list."""
    return RedirectResponse("/ui/")


@router.get("/ui", include_in_schema=False)
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/", include_in_schema=False)
def index_page() -> FileResponse:
    """Every project, with links to its labeling page and dashboard."""
    return _page("index.html")


@router.get("/ui/projects/{project_id}/label", include_in_schema=False)
def label_page(project_id: int) -> FileResponse:
    """The labeling page: the next item, a button (and a key) per label."""
    return _page("label.html")


@router.get("/ui/projects/{project_id}/dashboard", include_in_schema=False)
def dashboard_page(project_id: int) -> FileResponse:
    """Budget, stop state, learning curve, forecast, class balance."""
    return _page("dashboard.html")


@router.get("/ui/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    """A script or stylesheet of the pages (a fixed list)."""
    if name not in _ASSETS:
        raise NotFound(f"no asset {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=_ASSETS[name], headers=_NO_CACHE)


@router.get("/projects/{project_id}/labeling", tags=["labeling"])
def labeling_info(
    project_id: int, store: Store = Depends(deps.store), _: object = Depends(require_annotator)
) -> dict[str, Any]:
    """What a labeling tool needs to show a project: its name, labels, input kind and state."""
    with store.read() as conn:
        project = get_project(conn, project_id)
    return {"id": project.id, "name": project.name, "labels": project.labels, "input": project.input,
            "batch_size": project.batch_size, "state": project.state, "stop_reason": project.stop_reason,
            "task": project.task}
