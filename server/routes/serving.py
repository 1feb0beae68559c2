"""The labeling tools' two calls: lease the next items, send labels back."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from alloop.auth import Caller, require_annotator
from alloop.errors import Invalid
from alloop.image_links import shown_image
from alloop.loop import Controller
from alloop.loop.embedding import embedding_progress
from alloop.routes import deps
from alloop.schemas import LabelsRequest, NextRequest
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.items import feature_file
from alloop.store.labels import label_write
from alloop.store.predictions import PREDICTIONS
from alloop.store.projects import Project
from alloop.store.reviews import REVIEW
from alloop.store.serving import WAITABLE, claim_write, round_due

router = APIRouter(tags=["labeling"])

RECHECK_SECONDS = 0.5
"""A waiting /next looks again at least this often (a stop, an expired lease) besides the loop's wake-ups."""


def iso(timestamp: float | None) -> str | None:
    """UTC ISO 8601, or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _retry_after(claim: dict[str, Any], store: Store, controller: Controller, project_id: int) -> float | None:
    """Seconds until asking again is likely to get items: the loop's round or embedding, or the
    first lease to expire; None when nothing is on its way (an empty pool)."""
    reason = claim["waiting"]
    if reason == "leased":
        seconds = claim["next_expiry"] - time.time()
    elif reason == "embedding":
        with store.read() as conn:
            waiting = embedding_progress(conn, project_id)["to_embed"]
        rate = controller.embedding_rate(project_id)
        seconds = waiting / rate if rate else controller.eta(project_id, "embed")
    elif reason in ("training", "cold_start"):
        seconds = controller.eta(project_id, "train" if reason == "training" else "cold_start")
        seconds = 1.0 if seconds is None else seconds
    elif reason == "awaiting_labels":  # others' labels first, then a round: no way to know, ask again soon
        seconds = 1.0
    else:
        return None
    return max(0.1, round(seconds, 1)) if seconds is not None else 1.0


def _suggest(store: Store, project: Project, claimed: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Add the newest model's prediction to each item it covers (none before the first model)."""
    if project.task == "spans":  # spans: predicted spans (alloop.tasks.spans_round)
        from alloop.tasks.spans_round import suggest_spans

        return suggest_spans(store.project_path(project.id), claimed, items)
    predictions = PREDICTIONS.get(store.project_path(project.id))
    if predictions is None:
        return
    if project.task == "multilabel":  # issue 20: a suggested label set (alloop.tasks.multilabel_serving)
        from alloop.tasks.multilabel_serving import suggest_sets

        suggest_sets(predictions, project.labels, claimed, items)
        return
    found = predictions.lookup([item["idx"] for item in claimed])
    for item, public in zip(claimed, items):
        if item["idx"] in found:
            label, confidence = found[item["idx"]]
            public["suggestion"] = {"label": project.labels[label], "confidence": confidence,
                                    "model_version": predictions.version}


def _public(claim: dict[str, Any], store: Store, controller: Controller, project_id: int,
            secret: str | None = None) -> dict[str, Any]:
    project = claim.get("project")
    vectors: dict[int, list[float]] = {}
    if project is not None and project.input == "vector" and claim["items"]:
        features = feature_file(store, project)
        rows = [item["row"] for item in claim["items"] if item["row"] is not None]
        if features is not None and rows:
            vectors = dict(zip(rows, features.read_rows(rows).tolist()))
    items = []
    for item in claim["items"]:
        public = {"id": item["id"], "score": item["score"], "model_version": item["model_version"],
                  "strategy": item["strategy"]}
        if item["strategy"] == REVIEW:  # a suspected label error: label it afresh, the answer reviews it
            public["reason"] = REVIEW
        if item["row"] in vectors:
            public["features"] = vectors[item["row"]]
        if item["text"] is not None:
            public["text"] = item["text"]
        if item["meta"] is not None:
            public["meta"] = item["meta"]
        public.update(shown_image(project_id, item["id"], item["image"], secret))
        items.append(public)
    if project is not None and project.suggest and items:
        _suggest(store, project, claim["items"], items)
    answer = {"items": items, "lease_expires_at": iso(claim["expires_at"]), "done": claim["done"],
              "reason": claim["reason"] if claim["done"] else claim["waiting"]}
    if not claim["done"]:
        answer["ranking"] = claim["ranking"]
        if not items:
            answer["retry_after"] = _retry_after(claim, store, controller, project_id)
    return answer


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
    controller: Controller = Depends(deps.controller),
    caller: Caller = Depends(require_annotator),
) -> Response:
    """Lease up to ``n`` of the most useful unlabeled items to ``annotator``.

    When the ranking being served is more than the project's ``max_stale_labels`` behind (or
    the first one is still being computed), waits up to ``wait`` seconds for the next one; then
    answers an empty batch whose ``reason`` says what it waits for and ``retry_after`` when to ask
    again (also as a ``Retry-After`` header). With review on, part of the batch is suspected label
    errors (``reason: "review"``); ``only: "review"`` asks for those alone.
    """
    if body.n is not None and not 1 <= body.n <= settings.max_next_n:
        raise Invalid(f"n must be between 1 and {settings.max_next_n}, got {body.n}")
    wait = settings.next_wait_seconds if body.wait is None else body.wait
    if not 0 <= wait <= settings.max_next_wait_seconds:
        raise Invalid(f"wait must be between 0 and {settings.max_next_wait_seconds:g} seconds, got {wait:g}")
    annotator = caller.annotator(body.annotator)
    deadline = time.monotonic() + wait
    while True:
        # While the loop's last round failed, serve what there is rather than wait for a round
        # that may not come; the status shows the error.
        fresh_only = project_id not in controller.errors
        claim = await store.transact_async(claim_write(project_id, annotator, body.n, time.time(),
                                                       fresh_only=fresh_only, only=body.only))
        left = deadline - time.monotonic()
        if claim["items"] or claim["done"] or claim["waiting"] not in WAITABLE or left <= 0:
            break
        await controller.changes.wait(project_id, min(left, RECHECK_SECONDS))
    secret = None if settings.admin_token is None else settings.admin_token.get_secret_value()
    answer = _public(claim, store, controller, project_id, secret)
    response = _json(answer)
    if answer.get("retry_after") is not None:
        response.headers["Retry-After"] = str(math.ceil(answer["retry_after"]))
    return response


@router.post("/projects/{project_id}/labels", response_model=dict[str, Any])
async def add_labels(
    project_id: deps.ProjectId,
    body: LabelsRequest,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    store: Store = Depends(deps.store),
    controller: Controller = Depends(deps.controller),
    agent: Any = Depends(deps.agent),
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
    write = label_write(project_id, labels, time.time(), submission_id=key)
    # whether a round is now due, read in the same transaction: it starts at once, not after the
    # gap that coalesces wake-ups
    result, due = await store.transact_async(lambda conn: (write(conn), round_due(conn, project_id)))
    if result.get("accepted") or result.get("decided"):
        controller.wake(urgent=due)
        agent.wake()  # a linked Label Studio stops serving as soon as the campaign stops
    return _json(result)
