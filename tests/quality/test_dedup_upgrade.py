"""Schema v14 over an older store: old projects keep serving as before until dedup is turned on, which
groups their items (text from the rows, vectors from the feature file)."""

from __future__ import annotations

import pytest

import time

import numpy as np
from helpers import database_at, old_project

from alloop import campaign
from alloop.schemas import ProjectPatch
from alloop.store import Store
from alloop.store.features import FeatureFile
from alloop.store.projects import get_project
from alloop.store.schema import MIGRATIONS, SCHEMA_VERSION, _v14
from alloop.store.serving import claim_next


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_an_old_project_is_ungrouped_and_served_as_before_until_dedup_is_turned_on(settings):
    conn = database_at(settings.data_dir, MIGRATIONS.index(_v14))  # the store before dedup
    old_project(conn)
    conn.execute("UPDATE projects SET n_features = 3, max_stale_labels = NULL WHERE id = 1")
    vectors = np.array([[1, 0, 0], [1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    for idx in range(5):
        conn.execute("INSERT INTO items (idx, project_id, ext_id, split, row, order_key) VALUES (?, 1, ?, 'pool', ?, ?)",
                     (idx + 1, f"i{idx}", idx, float(idx)))
    conn.execute("INSERT INTO labels (project_id, item_idx, label, annotator, created_at) VALUES (1, 4, 'a', 'x', 0)")
    conn.commit()
    conn.close()
    store = Store(settings.data_dir)
    try:
        FeatureFile(store.project_dir(1) / "features.f32", 3).append(vectors)
        with store.read() as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            project = get_project(db, 1)
            assert (project.dedup, project.grouped, project.dedup_threshold, project.leakage) == ("off", 0, None, "report")
            assert db.execute("SELECT COUNT(*) FROM items WHERE dup_group IS NOT NULL").fetchone()[0] == 0
        served = [i["id"] for i in claim_next(store, 1, "a", 10, time.time())["items"]]
        assert sorted(served) == ["i0", "i1", "i2", "i4"]
        with store.write() as db:
            db.execute("DELETE FROM leases")
        campaign.patch_project(store, 1, ProjectPatch(dedup="skip", dedup_threshold=0.95))  # vectors: near needs a threshold
        with store.read() as db:
            assert get_project(db, 1).grouped
            groups = dict(db.execute("SELECT ext_id, dup_group FROM items").fetchall())
        assert groups["i0"] == groups["i1"] == groups["i2"] == 1 and groups["i3"] is None and groups["i4"] is None
        served = [i["id"] for i in claim_next(store, 1, "b", 10, time.time())["items"]]
        assert len(served) == 2 and "i4" in served  # one of the group {i0, i1, i2}, and i4
    finally:
        store.close()
