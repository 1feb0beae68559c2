"""The store's transactions: leases, expiry, rollback, feature files, migrations."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import database_at, old_project

from alloop import campaign
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store import Store
from alloop.store.features import FeatureFile
from alloop.store.items import counts, import_items
from alloop.store.labels import submit_labels
from alloop.store.schema import SCHEMA_VERSION
from alloop.store.serving import claim_next


@pytest.fixture
def pid(store, settings):
    project = campaign.create_project(
        store, settings, ProjectCreate(dedup="off", name="s", labels=["a", "b"], budget=None, lease_seconds=60, max_stale_labels=None)
    )
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i), 1.0]) for i in range(200)])
    return project.id


def test_concurrent_claims_never_share_an_item(store, pid):
    taken: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name: str) -> None:
        for _ in range(10):
            for item in claim_next(store, pid, name, 3, time.time())["items"]:
                with lock:
                    taken.setdefault(item["id"], []).append(name)
            # label what we hold so the next poll gets new items
            held = claim_next(store, pid, name, 3, time.time())["items"]
            submit_labels(store, pid, [LabelIn(item_id=i["id"], label="a", annotator=name) for i in held], time.time())

    threads = [threading.Thread(target=worker, args=(f"w{k}",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(set(names)) == 1 for names in taken.values())
    with store.read() as conn:
        assert counts(conn, pid, time.time())["labeled"] == len(taken)


def test_an_expired_lease_returns_the_item_to_the_queue(store, pid):
    now = time.time()
    first = claim_next(store, pid, "a", 200, now)["items"]
    assert len(first) == 200
    assert claim_next(store, pid, "b", 5, now + 30)["items"] == []
    later = claim_next(store, pid, "b", 5, now + 61)["items"]
    assert len(later) == 5 and {i["id"] for i in later} <= {i["id"] for i in first}
    with store.read() as conn:
        assert counts(conn, pid, now + 61)["leased"] == 5


def test_a_late_label_from_an_expired_lease_is_still_accepted_once(store, pid):
    now = time.time()
    item = claim_next(store, pid, "a", 1, now)["items"][0]
    claim_next(store, pid, "b", 200, now + 61)  # b gets the item after a's lease lapsed
    answers = [submit_labels(store, pid, [LabelIn(item_id=item["id"], label="a", annotator=who)], now + 62)
               for who in ("a", "b")]
    assert [a["accepted"] for a in answers] == [1, 0] and answers[1]["duplicates"] == 1


def test_a_failed_write_rolls_back_everything(store, pid):
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute("UPDATE projects SET name = 'changed' WHERE id = ?", (pid,))
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute("SELECT name FROM projects WHERE id = ?", (pid,)).fetchone()[0] == "s"


def test_feature_file_drops_a_torn_row(tmp_path):
    features = FeatureFile(tmp_path / "f.f32", 3)
    assert features.append(np.ones((2, 3))) == 0
    with open(features.path, "ab") as handle:
        handle.write(b"\x00\x01")  # a crash mid-row
    assert features.rows() == 2
    assert features.append(np.full((1, 3), 7.0)) == 2
    np.testing.assert_array_equal(features.matrix()[2], [7.0, 7.0, 7.0])


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_migrations_run_once_and_reopen_cleanly(settings):
    Store(settings.data_dir).close()
    again = Store(settings.data_dir)
    assert again.conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again.conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


@pytest.mark.sqlite_only  # the SQLite file
def test_a_new_store_holds_what_migrating_from_scratch_makes(settings, tmp_path):
    """A new store's file is a copy of a blank database migrated once per process (not migrated
    again per store): the same tables, indexes and triggers, the same schema version, no rows."""
    store = Store(settings.data_dir)
    made = store.conn()
    assert made.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    scratch = database_at(tmp_path / "scratch", SCHEMA_VERSION)
    schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    assert [tuple(r) for r in made.execute(schema)] == scratch.execute(schema).fetchall()
    assert made.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = [r[0] for r in made.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert all(made.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == 0 for t in tables)
    scratch.close()
    store.close()
    assert sorted(p.name for p in settings.data_dir.iterdir() if "alloop.db" in p.name) == ["alloop.db"]


@pytest.mark.sqlite_only  # the SQLite file
def test_stores_opened_at_once_on_a_new_folder_share_one_file(tmp_path):
    """Whichever makes the file first, the others open that one (nothing half-written is seen)."""
    folder, errors, stores = tmp_path / "new", [], []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            stores.append(Store(folder))
        except Exception as exc:  # pragma: no cover - a failure is reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    with stores[0].write() as conn:
        old_project(conn)
    for store in stores:
        assert [tuple(r) for r in store.conn().execute("SELECT name FROM projects")] == [("old",)]
        store.close()
    assert not [p for p in folder.iterdir() if ".new-" in p.name]


@pytest.mark.sqlite_only  # the SQLite file and its migrations
@pytest.mark.parametrize("lazy_table", [False, True])
def test_a_version_2_database_upgrades(settings, lazy_table):
    """Version 3 adds the Label Studio link table, which older servers created on first use."""
    conn = database_at(settings.data_dir, 2)
    if lazy_table:
        conn.execute(
            "CREATE TABLE labelstudio_links (project_id INTEGER NOT NULL, annotation_id INTEGER NOT NULL, "
            "item_idx INTEGER NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (project_id, annotation_id))"
        )
        conn.execute("INSERT INTO labelstudio_links VALUES (1, 7, 3, 0.0)")
    conn.commit()
    conn.close()

    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rows = db.execute("SELECT project_id, annotation_id, item_idx FROM labelstudio_links").fetchall()
    assert [tuple(r) for r in rows] == ([(1, 7, 3)] if lazy_table else [])
    store.close()


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_throwaway_store_keeps_its_journal_in_memory(tmp_path):
    store = Store(tmp_path / "sim", synchronous="OFF", journal_mode="MEMORY")
    assert store.conn().execute("PRAGMA journal_mode").fetchone()[0] == "memory"
    store.close()
    served = Store(tmp_path / "served")
    assert served.conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    served.close()
    with pytest.raises(ValueError, match="journal_mode 'OFF'"):
        Store(tmp_path / "bad", journal_mode="OFF")
