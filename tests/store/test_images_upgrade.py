"""Schema v12 (item images, the suggest setting) over an older store, and the demo's upgrade."""

from __future__ import annotations

import pytest

from helpers import database_at, old_project

from alloop import campaign
from alloop.demo import DEMO_NAME, ensure_demo
from alloop.schemas import ItemIn, ProjectCreate
from alloop.store import Store
from alloop.store.items import import_items
from alloop.store.schema import SCHEMA_VERSION


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_version_11_store_gains_images_and_suggest_off(settings):
    conn = database_at(settings.data_dir, 11)
    old_project(conn)
    conn.commit()
    conn.close()
    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT suggest FROM projects WHERE id = 1").fetchone()[0] == 0
    import_items(store, 1, "pool", [ItemIn(id="x", features=[0.0, 1.0], image_url="https://host/x.png")])
    assert db.execute("SELECT image FROM item_images").fetchall()[0][0] == "https://host/x.png"
    store.close()


def test_a_demo_made_before_pictures_gets_them_and_suggestions(store, settings):
    pid = ensure_demo(store, settings)
    with store.write() as conn:  # what an older alloop left: no pictures, no suggestions
        conn.execute("DELETE FROM item_images")
        conn.execute("UPDATE projects SET suggest = 0")
    assert ensure_demo(store, settings) == pid
    with store.read() as conn:
        pool = conn.execute("SELECT COUNT(*) FROM items WHERE project_id = ? AND split = 'pool'", (pid,)).fetchone()[0]
        drawn = conn.execute("SELECT COUNT(*) FROM item_images WHERE image LIKE 'data:image/png;base64,%'").fetchone()[0]
        suggest = conn.execute("SELECT suggest FROM projects WHERE id = ?", (pid,)).fetchone()[0]
    assert pool == drawn == 1797 - 400 and suggest == 1
    with store.write() as conn:  # a person who turned suggestions off keeps them off
        conn.execute("UPDATE projects SET suggest = 0")
    ensure_demo(store, settings)
    with store.read() as conn:
        assert conn.execute("SELECT suggest FROM projects WHERE id = ?", (pid,)).fetchone()[0] == 0


def test_other_projects_are_left_alone(store, settings):
    other = campaign.create_project(store, settings, ProjectCreate(name=f"not {DEMO_NAME}", labels=["a", "b"])).id
    import_items(store, other, "pool", [ItemIn(id="digit-3", features=[0.0] * 64)])
    ensure_demo(store, settings)
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM item_images i JOIN items t ON t.idx = i.item_idx "
                            "WHERE t.project_id = ?", (other,)).fetchone()[0] == 0
