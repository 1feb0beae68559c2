"""What a campaign produced: the learning curve and the labels with their provenance."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

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


@router.get("/projects/{project_id}/export")
def export(
    project_id: deps.ProjectId,
    format: Annotated[Literal["jsonl", "csv", "json"], Query()] = "jsonl",
    store: Store = Depends(deps.store),
) -> StreamingResponse:
    """Every label with its annotator, time, model version, the score that chose it, and its votes.

    ``jsonl``: one label per line; ``json``: one array; ``csv``: a header row, and ``votes`` as a
    compact JSON array. ``X-Total-Count`` says how many labels.
    """
    with store.read() as conn:
        get_project(conn, project_id)
        rows = [_public(r) for r in iter_export(conn, project_id)]
    headers = {"X-Total-Count": str(len(rows))}
    if format == "csv":
        return StreamingResponse(_csv(iter(rows)), media_type="text/csv", headers=headers)
    if format == "json":
        return StreamingResponse(_json_array(iter(rows)), media_type="application/json", headers=headers)
    return StreamingResponse(_jsonl(iter(rows)), media_type="application/x-ndjson", headers=headers)
