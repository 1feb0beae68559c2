"""The review schema over an older store: projects keep review off, reviews spend nothing yet, and a
review written after the upgrade counts against the budget through the new trigger."""

from __future__ import annotations

import pytest

from helpers import old_labeled_store

from alloop.store import Store
from alloop.store.budget import spent
from alloop.store.projects import get_project
from alloop.store.schema import MIGRATIONS, SCHEMA_VERSION, _v15


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_an_older_store_upgrades_with_review_off_and_its_spend_unchanged(settings):
    old_labeled_store(settings.data_dir, MIGRATIONS.index(_v15))  # the store before review
    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    project = get_project(db, 1)
    assert project.review is None and project.config()["review"] is None
    assert spent(db, project) == 2
    assert tuple(db.execute("SELECT reviewed, review_spent FROM pool_counts WHERE project_id = 1").fetchone()) == (0, 0)
    for table in ("suspects", "reviews", "label_checks"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    with store.write() as w:
        w.execute("INSERT INTO reviews (project_id, item_idx, reviewer, label, outcome, created_at) "
                  "VALUES (1, 1, 'y', 'b', 'replaced', 0)")
    assert spent(db, project) == 3
    store.close()
