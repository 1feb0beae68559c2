"""Projects: create, read, update, stop."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from alloop.errors import NotFound

__all__ = ["Project", "insert_project", "get_project", "list_projects", "update_project", "stop_project"]

_JSON_FIELDS = ("labels", "model", "strategy", "target", "stabilize", "encoder", "review", "image")


@dataclass(frozen=True)
class Project:
    """A campaign's configuration and state, as stored."""

    id: int
    name: str
    labels: list[str]
    input: str
    model: dict[str, Any]
    strategy: dict[str, Any]
    batch_size: int
    budget: int | None
    target: dict[str, Any] | None
    retrain_every: int
    lease_seconds: int
    seed: int
    cold_start: str
    stabilize: dict[str, Any] | None
    encoder: dict[str, Any] | None
    n_features: int | None
    state: str
    stop_reason: str | None
    created_at: float
    updated_at: float
    stopped_at: float | None
    labels_per_item: int = 1
    budget_unit: str = "items"
    max_stale_labels: int | None = None
    suggest: bool = False
    dedup: str = "skip"
    dedup_threshold: float | None = None  # None: exact duplicates only
    leakage: str = "report"
    grouped: int = 1
    near_row: int = 0
    review: dict[str, Any] | None = None  # label-error review settings (alloop.schemas.ReviewSpec); None: off
    task: str = "classification"  # what one answer is (alloop.tasks)
    image: dict[str, Any] | None = None  # image projects: width, height, color (alloop.schemas.ImageSpec)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Project:
        """The project stored in ``row`` (parsed once per distinct row: every request reads it)."""
        return _parse(tuple(row.keys()), tuple(row))

    def config(self) -> dict[str, Any]:
        """The fields a client configured, as the API shows them."""
        return {
            "id": self.id, "name": self.name, "labels": self.labels, "input": self.input,
            "model": self.model, "strategy": self.strategy, "batch_size": self.batch_size,
            "budget": self.budget, "target": self.target, "retrain_every": self.retrain_every,
            "lease_seconds": self.lease_seconds, "seed": self.seed, "cold_start": self.cold_start,
            "stabilize": self.stabilize, "encoder": self.encoder, "n_features": self.n_features,
            "labels_per_item": self.labels_per_item, "budget_unit": self.budget_unit,
            "max_stale_labels": self.max_stale_labels, "suggest": bool(self.suggest),
            "dedup": self.dedup, "dedup_threshold": self.dedup_threshold, "leakage": self.leakage,
            "review": self.review, "task": self.task, "image": self.image,
        }


@lru_cache(maxsize=256)
def _parse(keys: tuple[str, ...], values: tuple[Any, ...]) -> Project:
    # Keyed on the whole stored row, so any change to the project is a new entry; Project is
    # frozen, so sharing one instance between requests is safe.
    data = dict(zip(keys, values))
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key]) if data[key] is not None else None
    return Project(**data)


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in _JSON_FIELDS and v is not None else v for k, v in fields.items()}


def insert_project(conn: sqlite3.Connection, fields: dict[str, Any]) -> Project:
    """Insert a running project from validated fields and return it."""
    now = time.time()
    row = _encode({**fields, "state": "running", "created_at": now, "updated_at": now})
    columns = ", ".join(row)
    marks = ", ".join(f":{key}" for key in row)
    cursor = conn.execute(f"INSERT INTO projects ({columns}) VALUES ({marks})", row)
    return get_project(conn, int(cursor.lastrowid))


def get_project(conn: sqlite3.Connection, project_id: int) -> Project:
    """The project, or :class:`NotFound`."""
    row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
    if row is None:
        raise NotFound(f"project {project_id} not found")
    return Project.from_row(row)


def list_projects(conn: sqlite3.Connection) -> list[Project]:
    """Every project, oldest first."""
    return [Project.from_row(r) for r in conn.execute("SELECT * FROM projects ORDER BY id")]


def update_project(conn: sqlite3.Connection, project_id: int, fields: dict[str, Any]) -> Project:
    """Change the given fields (already validated) and return the project."""
    if fields:
        row = _encode({**fields, "updated_at": time.time()})
        assignments = ", ".join(f"{key} = :{key}" for key in row)
        conn.execute(f"UPDATE projects SET {assignments} WHERE id = :id", {**row, "id": project_id})
    return get_project(conn, project_id)


def stop_project(conn: sqlite3.Connection, project_id: int, reason: str) -> None:
    """Mark the campaign done with ``reason`` (first reason wins)."""
    now = time.time()
    conn.execute(
        "UPDATE projects SET state = 'done', stop_reason = ?, stopped_at = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running'",
        (reason, now, now, project_id),
    )


def resume_project(conn: sqlite3.Connection, project_id: int) -> None:
    """Back to running (after a PATCH raised the budget or the target, or new pool items)."""
    conn.execute(
        "UPDATE projects SET state = 'running', stop_reason = NULL, stopped_at = NULL, "
        "updated_at = ? WHERE id = ?",
        (time.time(), project_id),
    )
