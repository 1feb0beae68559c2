"""Schema v17 (image projects) over an older store: its projects read as they were, with no image
settings, and take their items as before; an image project made after the upgrade stores its own."""

from __future__ import annotations

import pytest

from helpers import old_labeled_store

from alloop import campaign
from alloop.schemas import ImageSpec, ItemIn, ProjectCreate
from alloop.store import Store
from alloop.store.items import import_items
from alloop.store.projects import get_project
from alloop.store.schema import MIGRATIONS, SCHEMA_VERSION, _v17


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_an_older_store_upgrades_with_no_image_settings_and_works_as_before(settings):
    old_labeled_store(settings.data_dir, MIGRATIONS.index(_v17))  # the store before image projects
    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    project = get_project(db, 1)
    assert project.image is None and project.config()["image"] is None and project.input == "vector"
    assert import_items(store, 1, "pool", [ItemIn(id="x", features=[0.0, 1.0])]) == {"added": 1, "skipped": 0}
    made = campaign.create_project(store, settings, ProjectCreate(
        name="pictures", labels=["a", "b"], input="image", image=ImageSpec(width=16, height=8, color="rgb")))
    stored = get_project(db, made.id)
    assert stored.image == {"width": 16, "height": 8, "color": "rgb"}
    assert stored.model["name"] == "cnn" and stored.model["input_shape"] == [3, 8, 16]
    store.close()
