"""The open pool (schema v8): labeled flags and counts kept by triggers, /next past the ranking by index."""

from __future__ import annotations

import time

import pytest
from helpers import database_at

from alloop import campaign
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store import Store
from alloop.store.items import has_unlabeled, import_items, labeled_count
from alloop.store.labels import submit_labels
from alloop.store.schema import SCHEMA_VERSION
from alloop.store.serving import claim_next

POOL = 60


@pytest.fixture
def pid(store, settings):
    project = campaign.create_project(store, settings, ProjectCreate(dedup="off", name="o", labels=["a", "b"], budget=None, max_stale_labels=None))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i), 1.0]) for i in range(POOL)])
    return project.id


def label(store, pid, ids, who="x"):
    return submit_labels(store, pid, [LabelIn(item_id=str(i), label="a", annotator=who) for i in ids], time.time())


def flags(store, pid):
    with store.read() as conn:
        return {int(r[0]) for r in conn.execute("SELECT ext_id FROM items WHERE project_id = ? AND labeled = 1", (pid,))}


def test_labels_set_the_flag_and_the_count_and_deletions_undo_them(store, pid):
    label(store, pid, [3, 5, 8])
    assert flags(store, pid) == {3, 5, 8}
    with store.read() as conn:
        assert labeled_count(conn, pid) == 3
    with store.write() as conn:  # a Label Studio deletion removes the label row
        conn.execute("DELETE FROM labels WHERE item_idx = (SELECT idx FROM items WHERE ext_id = '5' AND project_id = ?)",
                     (pid,))
    assert flags(store, pid) == {3, 8}
    with store.read() as conn:
        assert labeled_count(conn, pid) == 2
        assert labeled_count(conn, pid) == conn.execute("SELECT COUNT(*) FROM labels WHERE project_id = ?",
                                                        (pid,)).fetchone()[0]


def test_spent_cost_follows_labels(store, settings):
    project = campaign.create_project(store, settings, ProjectCreate(dedup="off", name="c", labels=["a", "b"], budget=None, max_stale_labels=None))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i)], cost=c) for i, c in enumerate([2.0, None, 0.5])])
    label(store, project.id, [0, 1, 2])
    with store.write() as conn:
        conn.execute("DELETE FROM labels WHERE item_idx = (SELECT idx FROM items WHERE ext_id = '0' AND project_id = ?)",
                     (project.id,))
        assert conn.execute("SELECT spent FROM pool_counts WHERE project_id = ?", (project.id,)).fetchone()[0] == 1.5


def test_counts_are_per_project(store, settings, pid):
    other = campaign.create_project(store, settings, ProjectCreate(dedup="off", name="p", labels=["a", "b"], budget=None, max_stale_labels=None)).id
    import_items(store, other, "pool", [ItemIn(id=i, features=[float(i), 1.0]) for i in range(5)])
    label(store, pid, [1, 2])
    label(store, other, [4])
    with store.read() as conn:
        assert (labeled_count(conn, pid), labeled_count(conn, other)) == (2, 1)


def test_past_the_ranking_next_skips_labeled_and_leased_items_in_pool_order(store, pid):
    with store.read() as conn:
        order = [int(r[0]) for r in conn.execute(
            "SELECT ext_id FROM items WHERE project_id = ? ORDER BY order_key", (pid,))]
    label(store, pid, order[:10])
    held = [int(i["id"]) for i in claim_next(store, pid, "a", 4, time.time())["items"]]
    assert held == order[10:14]
    label(store, pid, order[20:25])
    got = [int(i["id"]) for i in claim_next(store, pid, "b", 10, time.time())["items"]]
    assert got == order[14:20] + order[25:29]


def test_has_unlabeled_until_the_last_item_is_labeled(store, pid):
    label(store, pid, range(POOL - 1))
    with store.read() as conn:
        assert has_unlabeled(conn, pid)
    label(store, pid, [POOL - 1])
    with store.read() as conn:
        assert not has_unlabeled(conn, pid)
    assert claim_next(store, pid, "a", 3, time.time())["items"] == []


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_version_7_database_upgrades_with_flags_and_counts_backfilled(settings):
    conn = database_at(settings.data_dir, 7)
    for project in (1, 2):
        conn.execute("INSERT INTO projects (id, name, labels, input, model, strategy, state, batch_size, lease_seconds, "
                     "seed, retrain_every) VALUES (?, 'old', '[\"x\", \"y\"]', 'vector', '{}', '{}', 'running', 10, 60, "
                     "0, 10)", (project,))
    conn.executemany("INSERT INTO items (idx, project_id, ext_id, split, row, order_key, cost) "
                     "VALUES (?, ?, ?, 'pool', ?, ?, ?)",
                     [(k, 1 if k < 4 else 2, f"i{k}", k, k / 10, 2.5 if k == 2 else None) for k in range(6)])
    conn.executemany("INSERT INTO labels (project_id, item_idx, label, annotator, created_at) VALUES (?, ?, 'x', 'a', 0)",
                     [(1, 0), (1, 2), (2, 5)])
    conn.commit()
    conn.close()

    store = Store(settings.data_dir)
    try:
        db = store.conn()
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert [r[0] for r in db.execute("SELECT idx FROM items WHERE labeled = 1 ORDER BY idx")] == [0, 2, 5]
        assert (labeled_count(db, 1), labeled_count(db, 2)) == (2, 1)
        assert [tuple(r) for r in db.execute("SELECT project_id, spent FROM pool_counts ORDER BY project_id")] == [
            (1, 3.5), (2, 1.0)]
        assert {r[0] for r in db.execute("SELECT budget_unit FROM projects")} == {"items"}
        # v10: old projects take the default staleness cap, twice their retrain interval
        assert db.execute("SELECT max_stale_labels FROM projects WHERE id = 1").fetchone()[0] == 20
        got = [i["id"] for i in claim_next(store, 1, "a", 5, time.time(), fresh_only=False)["items"]]
        assert got == ["i1", "i3"]
    finally:
        store.close()
