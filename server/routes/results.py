"""What a campaign produced: the learning curve, the labels with their provenance, and the dataset card."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from alloop.quality import leakage
from alloop.quality.card import FORMATS as CARD_FORMATS
from alloop.quality.card import card_markdown, dataset_card
from alloop.routes import deps
from alloop.routes.serving import iso
from alloop.store import Store
from alloop.store.labels import EXPORT_FIELDS, iter_export
from alloop.store.projects import get_project
from alloop.store.rounds import curve

router = APIRouter(tags=["results"])


@router.get("/projects/{project_id}/metrics")
def metrics(project_id: deps.ProjectId, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """The learning curve on the eval split, one point per model version."""
    with store.read() as conn:
        get_project(conn, project_id)
        return {"curve": curve(conn, project_id)}


@router.get("/projects/{project_id}/leakage")
def leaks(
    project_id: deps.ProjectId,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
    store: Store = Depends(deps.store),
) -> dict[str, Any]:
    """Eval items that duplicate pool items: the counts, and the pairs (most similar first) by client id."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        return {**leakage.report(conn, project, examples=0), "pairs": leakage.pairs(conn, project_id, limit, offset)}


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row) + "\n"


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for n, row in enumerate(rows):
        yield ("," if n else "") + "\n" + json.dumps(row)
    yield "\n]\n"


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "votes": json.dumps(row["votes"], separators=(",", ":")),
                         "reviews": json.dumps(row["reviews"], separators=(",", ":"))})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    votes = [{**vote, "labeled_at": iso(vote["labeled_at"])} for vote in row["votes"]]
    reviews = [{**r, "reviewed_at": iso(r["reviewed_at"]),
                "previous": {**r["previous"], "labeled_at": iso(r["previous"]["labeled_at"])}} for r in row["reviews"]]
    return {**row, "labeled_at": iso(row["labeled_at"]), "votes": votes, "reviews": reviews}


@router.get("/projects/{project_id}/card", response_model=None)
def card(
    project_id: deps.ProjectId,
    format: Annotated[Literal[CARD_FORMATS], Query(description="md (Markdown, default) or json")] = "md",
    store: Store = Depends(deps.store),
) -> dict[str, Any] | PlainTextResponse:
    """The dataset card: provenance, class balance against the pool's predicted balance, agreement,
    what the data-quality checks found, and known limitations."""
    data = dataset_card(store, project_id)
    if format == "json":
        return data
    return PlainTextResponse(card_markdown(data), media_type="text/markdown; charset=utf-8")


def _bundle(store: Store, project_id: int, rows: list[dict[str, Any]]) -> bytes:
    """A zip of the labels (``labels.jsonl``) and the dataset card (``card.md``, ``card.json``)."""
    data = dataset_card(store, project_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("labels.jsonl", "".join(_jsonl(iter(rows))))
        bundle.writestr("card.md", card_markdown(data))
        bundle.writestr("card.json", json.dumps(data, indent=2) + "\n")
    return buffer.getvalue()


def _spans(row: dict[str, Any]) -> dict[str, Any]:
    """A spans project's export row with its answers decoded (:func:`alloop.tasks.decode_label`)."""
    from alloop.tasks import decode_label

    votes = [{**vote, "label": decode_label("spans", vote["label"])} for vote in row["votes"]]
    return {**row, "label": decode_label("spans", row["label"]), "votes": votes}


@router.get("/projects/{project_id}/export", response_model=None)
def export(
    project_id: deps.ProjectId,
    format: Annotated[Literal["jsonl", "csv", "json", "zip"], Query()] = "jsonl",
    store: Store = Depends(deps.store),
) -> StreamingResponse | Response:
    """Every label with its annotator, time, model version, the score that chose it, and its votes.

    ``jsonl``: one label per line; ``json``: one array; ``csv``: a header row, and ``votes`` as a
    compact JSON array; ``zip``: ``labels.jsonl`` with the dataset card (``card.md``, ``card.json``).
    ``X-Total-Count`` says how many labels.
    """
    with store.read() as conn:
        project = get_project(conn, project_id)
        rows = [_public(r) for r in iter_export(conn, project_id)]
    if project.task == "spans" and format != "csv":  # spans: answers as span lists (CSV keeps the compact JSON)
        rows = [_spans(r) for r in rows]
    headers = {"X-Total-Count": str(len(rows))}
    if format == "zip":
        headers["Content-Disposition"] = f'attachment; filename="project-{project_id}.zip"'
        return Response(_bundle(store, project_id, rows), media_type="application/zip", headers=headers)
    if format == "csv":
        return StreamingResponse(_csv(iter(rows)), media_type="text/csv", headers=headers)
    if format == "json":
        return StreamingResponse(_json_array(iter(rows)), media_type="application/json", headers=headers)
    return StreamingResponse(_jsonl(iter(rows)), media_type="application/x-ndjson", headers=headers)
