"""The shared frame of the store-level hypothesis state machines: a fresh campaign, a clock, restarts."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from pgserver import drop_database, scratch_database

from alloop import campaign
from alloop.schemas import ItemIn, ProjectCreate
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.items import import_items

LEASE = 10.0


class StoreCampaign(RuleBasedStateMachine):
    """A campaign of ``pool`` one-feature items in a temporary store; rules move time and restart."""

    def __init__(self, *, pool: int, **project: Any) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="alloop-sm-"))
        # with --store postgresql, each example its own database (the test's one is shared by all examples)
        self.url = scratch_database(os.environ["ALLOOP_STORE"]) if os.environ.get("ALLOOP_STORE") else None
        self.store = Store(self.dir, url=self.url)
        created = campaign.create_project(
            self.store, Settings(data_dir=self.dir),
            ProjectCreate(name="sm", dedup="off", lease_seconds=int(LEASE), stabilize=None, **project),
        )
        self.pid = created.id
        import_items(self.store, self.pid, "pool", [ItemIn(id=i, features=[float(i)]) for i in range(pool)])
        self.now = 1_000_000.0

    @rule(seconds=st.sampled_from([1.0, 5.0, 11.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = Store(self.dir, url=self.url)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.url is not None:
            drop_database(self.url)
