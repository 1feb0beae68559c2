"""Helpers shared by the API and end-to-end tests."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils
from fastapi.testclient import TestClient

from alloop import campaign
from alloop.schemas import ItemIn, ProjectCreate
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.items import import_items
from alloop.store.schema import MIGRATIONS

SMS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sms_spam" / "sms_spam.csv"


def database_at(data_dir: Path, version: int) -> sqlite3.Connection:
    """A store database in ``data_dir`` as schema ``version`` left it (for upgrade tests); the caller commits."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "alloop.db")
    for step in MIGRATIONS[:version]:
        step(sqlite_utils.Database(conn))
    conn.execute(f"PRAGMA user_version={version}")
    return conn


def old_project(conn: sqlite3.Connection) -> None:
    """Project 1, labels a and b, written as an older schema's row (for upgrade tests)."""
    conn.execute(
        "INSERT INTO projects (id, name, labels, input, model, strategy, batch_size, retrain_every, lease_seconds, "
        "seed, cold_start, state, created_at, updated_at) VALUES (1, 'old', ?, 'vector', ?, ?, 10, 10, 600, 0, "
        "'kmeans++', 'running', 0, 0)",
        (json.dumps(["a", "b"]), json.dumps({"name": "logistic_regression"}), json.dumps({"name": "margin"})),
    )


def old_labeled_store(data_dir: Path, version: int) -> None:
    """A store at schema ``version`` holding project 1 with pool items 1-3, items 1 and 2 labeled 'a'."""
    conn = database_at(data_dir, version)
    old_project(conn)
    for idx in (1, 2, 3):
        conn.execute("INSERT INTO items (idx, project_id, ext_id, split, order_key) VALUES (?, 1, ?, 'pool', ?)",
                     (idx, str(idx), float(idx)))
    for idx in (1, 2):
        conn.execute("INSERT INTO labels (project_id, item_idx, label, annotator, created_at) VALUES (1, ?, 'a', 'x', 0)",
                     (idx,))
    conn.commit()
    conn.close()


RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
"""Ray binds to 127.0.0.1 only when it thinks clustering is off; otherwise it takes the address of the
interface that routes outside, and tests stay on loopback (tests/distributed)."""

NO_DEDUP = {"dedup": "off"}
"""Digits pixels chain into large near-duplicate groups at cosine 0.95 (a third of a class in one group),
and the tests' synthetic vectors are all near each other: campaigns built to test other parts of the
loop serve their pool as it is. tests/quality covers duplicate groups."""


def project_body(**overrides: Any) -> dict[str, Any]:
    """A valid digits project body with the given fields changed (duplicates off: :data:`NO_DEDUP`)."""
    body: dict[str, Any] = {
        "name": "digits", "labels": [str(d) for d in range(10)], "batch_size": 10,
        "retrain_every": 20, "budget": 100, "seed": 0, **NO_DEDUP,
    }
    body.update(overrides)
    return body


def items_body(X: np.ndarray, ids: range | list[int], y: np.ndarray | None = None, split: str = "pool") -> dict[str, Any]:
    items = []
    for i in ids:
        item: dict[str, Any] = {"id": f"d{i}", "features": X[i].tolist()}
        if y is not None:
            item["label"] = str(y[i])
        items.append(item)
    return {"split": split, "items": items}


def make_campaign(client: TestClient, digits: tuple[np.ndarray, np.ndarray], *, pool: int = 300,
                  evals: int = 100, **overrides: Any) -> int:
    """Create a digits project over HTTP with ``pool`` pool items and ``evals`` eval items."""
    X, y = digits
    r = client.post("/projects", json=project_body(**overrides))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.post(f"/projects/{pid}/items", json=items_body(X, range(pool)))
    assert r.status_code == 200, r.text
    if evals:
        r = client.post(f"/projects/{pid}/items", json=items_body(X, range(pool, pool + evals), y, "eval"))
        assert r.status_code == 200, r.text
    return pid


def wait_for(client: TestClient, pid: int, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the project's status until ``predicate(status)`` holds; returns that status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/projects/{pid}").json()
        if predicate(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s: {status}")


def wait_for_ranking(client: TestClient, pid: int) -> dict[str, Any]:
    """The project's status once its first ranking (cold start or a model) is stored."""
    return wait_for(client, pid, lambda status: status["ranking"] is not None)


def store_campaign(store: Store, settings: Settings, digits: tuple[np.ndarray, np.ndarray], *, pool: int = 400,
                   evals: int = 200, **overrides: Any) -> int:
    """A digits project made straight in the store (no server): ``pool`` pool items, ``evals`` eval items."""
    X, y = digits
    fields = {"name": "t", "labels": [str(d) for d in range(10)], "batch_size": 10, "retrain_every": 20,
              "budget": 200, **NO_DEDUP, **overrides}
    project = campaign.create_project(store, settings, ProjectCreate(**fields))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(pool)])
    if evals:
        import_items(store, project.id, "eval",
                     [ItemIn(id=i, features=X[i].tolist(), label=str(y[i])) for i in range(pool, pool + evals)])
    return project.id


def sms_rows(n: int) -> list[tuple[str, str]]:
    """The first ``n`` (label, text) rows of the shared SMS spam set; skips the test where it is absent."""
    import csv

    import pytest

    if not SMS.exists():
        pytest.skip(f"shared data not found at {SMS}")
    with open(SMS, newline="", encoding="utf-8") as handle:
        return [(r["label"], r["text"]) for r in csv.DictReader(handle)][:n]


def write_pngs(root: Path, images: np.ndarray, names: list[str]) -> list[str]:
    """Write (n, h, w) 0-255 images as gray PNG files under ``root``; answers their relative paths."""
    from PIL import Image

    paths = []
    for picture, name in zip(images, names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(path, format="PNG")
        paths.append(name)
    return paths


def digit_pictures(X: np.ndarray) -> np.ndarray:
    """sklearn's 8x8 digits (values 0-16) as 0-255 pictures."""
    return (np.asarray(X).reshape(-1, 8, 8) * (255 / 16)).round().astype(np.uint8)
