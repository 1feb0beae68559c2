"""Item import: a JSON body, or JSON Lines / CSV as a raw body or a multipart file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from alloop.errors import Invalid
from alloop.importers import format_for, parse_items
from alloop.loop import Controller
from alloop.routes import deps
from alloop.schemas import ItemsImport
from alloop.store import Store
from alloop.store.items import import_items
from alloop.store.projects import get_project

router = APIRouter(tags=["items"])

_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ItemsImport.model_json_schema(ref_template="#/components/schemas/{model}")},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}, "split": {"type": "string"}},
                    "required": ["file"],
                }
            },
        },
    }
}


async def _read_upload(request: Request) -> tuple[bytes, str, str | None]:
    """The body, its format, and the split a multipart form names."""
    content_type = request.headers.get("content-type", "application/json")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            upload, split = form.get("file"), form.get("split")
            if upload is None or isinstance(upload, str):
                raise Invalid("multipart upload needs a 'file' field")
            fmt = format_for(upload.content_type or "", upload.filename)
            return await upload.read(), fmt, split if isinstance(split, str) else None
    return await request.body(), format_for(content_type), None


@router.post("/projects/{project_id}/items", openapi_extra=_OPENAPI)
async def add_items(
    project_id: deps.ProjectId,
    request: Request,
    split: Annotated[Literal["pool", "eval"] | None, Query()] = None,
    store: Store = Depends(deps.store),
    controller: Controller = Depends(deps.controller),
) -> dict[str, Any]:
    """Add pool or eval items; ids already present are skipped. Answers ``{"added", "skipped"}``."""
    with store.read() as conn:
        get_project(conn, project_id)  # 404 before reading a large body
    body, fmt, form_split = await _read_upload(request)
    items, body_split = parse_items(body, fmt)
    chosen = split or form_split or body_split or "pool"
    if chosen not in ("pool", "eval"):
        raise Invalid(f"split must be 'pool' or 'eval', got {chosen!r}")
    if not items:
        raise Invalid("no items in the upload")
    root = request.app.state.settings.image_root  # image projects' image_path values are relative to it
    result = await run_in_threadpool(import_items, store, project_id, chosen, items, root)
    controller.retry(project_id)
    return result
