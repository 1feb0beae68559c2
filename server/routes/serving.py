"""The labeling tools' two calls: lease the next items, send labels back."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from server.auth import Caller, require_annotator
from server.errors import Invalid
from server.loop import Controller
from server.routes import deps
from server.schemas import LabelsRequest, NextRequest
from server.settings import Settings
from server.store import Store
from server.store.items import feature_file
from server.store.labels import label_write
from server.store.serving import claim_write

router = APIRouter(tags=["labeling"])


def iso(timestamp: float | None) -> str | None:
    """UTC ISO 8601, or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _public(claim: dict[str, Any], store: Store) -> dict[str, Any]:
    project = claim.get("project")
    vectors: dict[int, list[float]] = {}
    if project is not None and project.input == "vector" and claim["items"]:
        features = feature_file(store, project)
        rows = [item["row"] for item in claim["items"] if item["row"] is not None]
        if features is not None and rows:
            vectors = dict(zip(rows, features.read_rows(rows).tolist()))
    items = []
    for item in claim["items"]:
        public = {"id": item["id"], "score": item["score"], "model_version": item["model_version"]}
        if item["row"] in vectors:
            public["features"] = vectors[item["row"]]
        if item["text"] is not None:
            public["text"] = item["text"]
        if item["meta"] is not None:
            public["meta"] = item["meta"]
        items.append(public)
    return {"items": items, "lease_expires_at": iso(claim["expires_at"]), "done": claim["done"],
            "reason": claim["reason"]}


# Both calls are async: their one write goes to the store's group committer and is awaited
# there, so a request holds no thread while it waits for the commit's fsync. Their answers are
# plain JSON built here: FastAPI's generic encoder (a recursive walk over every feature value)
# cost more than the rest of the request together.


def _json(content: dict[str, Any]) -> Response:
    return Response(json.dumps(content, separators=(",", ":")), media_type="application/json")


@router.post("/projects/{project_id}/next", response_model=dict[str, Any])
async def next_items(
    project_id: deps.ProjectId,
    body: NextRequest,
    store: Store = Depends(deps.store),
    settings: Settings = Depends(deps.settings),
    caller: Caller = Depends(require_annotator),
) -> Response:
    """Lease up to ``n`` of the most useful unlabeled items to ``annotator``."""
    if body.n is not None and not 1 <= body.n <= settings.max_next_n:
        raise Invalid(f"n must be between 1 and {settings.max_next_n}, got {body.n}")
    claim = await store.transact_async(claim_write(project_id, caller.annotator(body.annotator), body.n, time.time()))
    return _json(_public(claim, store))


@router.post("/projects/{project_id}/labels", response_model=dict[str, Any])
async def add_labels(
    project_id: deps.ProjectId,
    body: LabelsRequest,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    store: Store = Depends(deps.store),
    controller: Controller = Depends(deps.controller),
    caller: Caller = Depends(require_annotator),
) -> Response:
    """Record labels (all or nothing); answers ``{"accepted", "duplicates", "rejected"}``.

    Send ``Idempotency-Key`` (or ``submission_id``) to make retries safe.
    """
    if idempotency_key and body.submission_id and idempotency_key != body.submission_id:
        raise Invalid("Idempotency-Key header and submission_id disagree")
    labels = [entry if (name := caller.annotator(entry.annotator)) == entry.annotator
              else entry.model_copy(update={"annotator": name}) for entry in body.labels]  # fmt: skip
    key = idempotency_key or body.submission_id
    result = await store.transact_async(label_write(project_id, labels, time.time(), submission_id=key))
    if result["accepted"]:
        controller.wake()
    return _json(result)
