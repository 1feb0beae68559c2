"""Schema v13 over an older store: each project's label changes start at its label count, and every
later insert, relabel and deletion counts one."""

from __future__ import annotations

import pytest

from helpers import old_labeled_store

from alloop.store import Store
from alloop.store.schema import SCHEMA_VERSION


def changes(db, pid=1):
    return db.execute("SELECT labeled, changes FROM pool_counts WHERE project_id = ?", (pid,)).fetchone()


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_version_12_store_counts_label_changes_from_its_labels(settings):
    old_labeled_store(settings.data_dir, 12)
    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert tuple(changes(db)) == (2, 2)
    with store.write() as w:
        w.execute("INSERT INTO labels (project_id, item_idx, label, annotator, created_at) VALUES (1, 3, 'b', 'x', 0)")
    assert tuple(changes(db)) == (3, 3)
    with store.write() as w:
        w.execute("UPDATE labels SET label = 'b' WHERE item_idx = 1")
    assert tuple(changes(db)) == (3, 4)  # a relabel changes no count, but is a change
    with store.write() as w:
        w.execute("DELETE FROM labels WHERE item_idx = 2")
    assert tuple(changes(db)) == (2, 5)
    store.close()

