"""An item's image, for the labeling page and Label Studio: its file under the images root (the
path checked again on every request), or its inline image; a link is redirected to."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from alloop.auth import require_annotator, require_token
from alloop.errors import NotFound
from alloop.image_files import FILE_PREFIX, read_image_file
from alloop.image_links import image_route, valid_signature
from alloop.routes import deps
from alloop.schemas import ItemId, Strict
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.projects import get_project

router = APIRouter(tags=["items"])

_KINDS = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}


def _stored(store: Store, project_id: int, item_id: str) -> str:
    with store.read() as conn:
        get_project(conn, project_id)
        row = conn.execute(
            "SELECT m.image FROM items i JOIN item_images m ON m.item_idx = i.idx WHERE i.project_id = ? "
            "AND i.ext_id = ?", (project_id, item_id)).fetchone()
    if row is None:
        raise NotFound(f"item {item_id!r} of project {project_id} has no image")
    return row[0]


def _file(settings: Settings, relative: str) -> bytes:
    if settings.image_root is None:
        raise NotFound("this server has no images root now (ALLOOP_IMAGE_ROOT or --image-root)")
    try:
        return read_image_file(settings.image_root, relative)
    except ValueError as exc:  # moved, replaced by a link out of the root, grown too large since the import
        raise NotFound(str(exc)) from None


async def _allowed(request: Request, project_id: deps.ProjectId, item_id: str,
                   sig: str | None = Query(None, description="The link's signature (auth on).")) -> None:
    """Open without auth; with it, a signed link or any token of the project."""
    secret = request.app.state.settings.admin_token
    if secret is not None and not valid_signature(secret.get_secret_value(), project_id, item_id, sig):
        await require_annotator(request)


@router.get("/projects/{project_id}/items/{item_id:path}/image", dependencies=[Depends(_allowed)],
            response_class=Response, responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}})
async def item_image(project_id: deps.ProjectId, item_id: str, store: Store = Depends(deps.store),
                     settings: Settings = Depends(deps.settings)) -> Response:
    """The item's image: a PNG or JPEG (its file, or its inline image), or a redirect to its link."""
    stored = await run_in_threadpool(_stored, store, project_id, item_id)
    if stored.startswith(FILE_PREFIX):
        raw = await run_in_threadpool(_file, settings, stored[len(FILE_PREFIX):])
    elif stored.startswith("data:"):
        raw = base64.b64decode(stored.partition(",")[2])
    else:
        return RedirectResponse(stored, status_code=307)
    kind = next((k for magic, k in _KINDS.items() if raw.startswith(magic)), None)
    if kind is None:
        raise NotFound(f"the image of item {item_id!r} is no longer a PNG or a JPEG")
    return Response(raw, media_type=kind, headers=_HEADERS)


class LinksRequest(Strict):
    """Items whose image links to hand out."""

    ids: list[ItemId] = Field(min_length=1, max_length=10_000)


@router.post("/projects/{project_id}/image-links", dependencies=[Depends(require_token)])
def image_links(project_id: deps.ProjectId, body: LinksRequest, store: Store = Depends(deps.store),
                settings: Settings = Depends(deps.settings)) -> dict[str, Any]:
    """Links to the images of these items (paths on this server; signed when auth is on), for tools that
    show them in a browser, like Label Studio. Items without an image are left out."""
    secret = None if settings.admin_token is None else settings.admin_token.get_secret_value()
    ids = [str(i) for i in body.ids]
    with store.read() as conn:
        get_project(conn, project_id)
        found = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found.update(r[0] for r in conn.execute(
                f"SELECT i.ext_id FROM items i JOIN item_images m ON m.item_idx = i.idx WHERE i.project_id = ? "
                f"AND i.ext_id IN ({','.join('?' * len(chunk))})", (project_id, *chunk)))
    return {"links": {i: image_route(project_id, i, secret) for i in ids if i in found}}
