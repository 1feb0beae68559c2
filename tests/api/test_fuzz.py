"""Schemathesis against the OpenAPI schema: no 5xx, one error shape, and the store's invariants after."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from alloop import campaign
from alloop.app import create_app
from alloop.schemas import ItemIn, ProjectCreate
from alloop.settings import Settings
from alloop.store.items import counts, import_items

DATA = Path(tempfile.mkdtemp(prefix="alloop-fuzz-"))
APP = create_app(Settings(data_dir=DATA, max_body_bytes=1_000_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schemathesis.serializer("application/x-ndjson", "text/csv")
def _raw_text(ctx, value) -> bytes:
    """JSON Lines and CSV uploads are plain text bodies; send the generated string as is."""
    return value.encode() if isinstance(value, str) else str(value).encode()


def seed() -> None:
    """A project with items, so fuzzed calls on /projects/1 reach real code paths."""
    store, settings = APP.state.store, APP.state.settings
    project = campaign.create_project(store, settings, ProjectCreate(name="fuzz", labels=["a", "b"], budget=50))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[i, 1.0]) for i in range(30)])


seed()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_fuzz(case):
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail"} and isinstance(body["detail"], str), body


def test_store_invariants_after_fuzzing():
    store = APP.state.store
    with store.read() as conn:
        for (pid, budget, k) in conn.execute("SELECT id, budget, labels_per_item FROM projects").fetchall():
            c = counts(conn, pid, time.time())
            assert c["labeled"] + c["unlabeled"] == c["pool"]
            if budget is not None:  # with overlap, up to k leases per item
                assert c["labeled"] <= budget and c["leased"] <= budget * k
        orphans = conn.execute(
            "SELECT COUNT(*) FROM labels b LEFT JOIN items i ON i.idx = b.item_idx "
            "WHERE i.idx IS NULL OR i.split != 'pool' OR i.project_id != b.project_id"
        ).fetchone()[0]
        assert orphans == 0
        double = conn.execute(
            "SELECT COUNT(*) FROM leases l JOIN labels b ON b.item_idx = l.item_idx"
        ).fetchone()[0]
        assert double == 0  # a labeled item holds no lease
