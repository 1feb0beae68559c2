"""Rankings by generation: staged in small writes, switched in one, old rows cleared in chunks."""

from __future__ import annotations

import time

import numpy as np
import pytest

from alloop import campaign
from alloop.loop.outcome import STAGE_IN_FLIGHT, Ranking, RoundWrite, record_cold_start, record_round_write
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import has_unlabeled, import_items
from alloop.store.labels import submit_labels
from alloop.store.rounds import (
    CHUNK_ROWS,
    begin_ranking,
    clear_stale,
    current_gen,
    stage_ranking,
    switch_ranking,
)
from alloop.store.serving import claim_next

POOL = 1200


@pytest.fixture
def pid(store, settings):
    project = campaign.create_project(store, settings, ProjectCreate(dedup="off", name="r", labels=["a", "b"], budget=None))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i), 1.0]) for i in range(POOL)])
    return project.id


def idx_of(store, pid, ids):
    with store.read() as conn:
        found = dict(conn.execute("SELECT ext_id, idx FROM items WHERE project_id = ?", (pid,)).fetchall())
    return np.asarray([found[str(i)] for i in ids], dtype=np.int64)


def rank_first(store, pid, idx):
    """Serve ``idx`` as the project's first ranking, through a round's write."""
    outcome = RoundWrite({"ran": True}, lambda conn, gen: record_cold_start(pid, idx.size, "cold_start:test", 0, conn, gen=gen),
                         Ranking(pid, idx, None))
    record_round_write(store, outcome)


def served(store, pid, n=5, who="x"):
    return [int(item["id"]) for item in claim_next(store, pid, who, n, time.time())["items"]]


def queue_rows(store, pid):
    with store.read() as conn:
        return dict(conn.execute("SELECT gen, COUNT(*) FROM queue WHERE project_id = ? GROUP BY gen", (pid,)).fetchall())


def test_a_staged_ranking_is_invisible_until_switched_in(store, pid):
    old, new = idx_of(store, pid, range(100)), idx_of(store, pid, range(1199, 1099, -1))
    rank_first(store, pid, old)
    with store.write() as conn:
        gen = begin_ranking(conn, pid)
        stage_ranking(conn, pid, gen, 0, new, np.linspace(1, 0, 100))
    assert served(store, pid, who="a") == [0, 1, 2, 3, 4]  # still the old ranking
    with store.write() as conn:
        switch_ranking(conn, pid, gen, size=100, model_version=3, strategy="new", now=2.0)
    assert served(store, pid, who="b") == [1199, 1198, 1197, 1196, 1195]
    assert queue_rows(store, pid) == {gen - 1: 100, gen: 100}  # the old rows wait for clearing
    with store.write() as conn:
        assert clear_stale(conn, pid, limit=60) == 60
        assert clear_stale(conn, pid, limit=60) == 40
        assert clear_stale(conn, pid) == 0
    assert queue_rows(store, pid) == {gen: 100}


def test_items_labeled_while_staging_never_reach_the_new_ranking(store, pid):
    first = idx_of(store, pid, range(10))
    with store.write() as conn:
        gen = begin_ranking(conn, pid)
        stage_ranking(conn, pid, gen, 0, first, None)
    submit_labels(store, pid, [LabelIn(item_id=k, label="a", annotator="z") for k in (0, 1, 2)], time.time())
    with store.write() as conn:
        switch_ranking(conn, pid, gen, size=10, model_version=None, strategy="s", now=1.0)
    assert served(store, pid, n=3) == [3, 4, 5]
    assert queue_rows(store, pid) == {gen: 7}


def test_a_crash_between_staging_and_switch_leaves_nothing_served_twice(store, pid):
    ranked, staged = idx_of(store, pid, range(50)), idx_of(store, pid, range(500, 520))
    rank_first(store, pid, ranked)
    with store.write() as conn:
        orphan = begin_ranking(conn, pid)
        stage_ranking(conn, pid, orphan, 0, staged, None)  # never switched in
    with store.write() as conn:
        again = begin_ranking(conn, pid)  # the next round clears the orphan rows first
    assert again == orphan and queue_rows(store, pid) == {orphan - 1: 50}
    with store.read() as conn:
        assert current_gen(conn, pid) == orphan - 1 and has_unlabeled(conn, pid)


def test_a_round_write_stages_in_chunks_then_switches_and_clears(store, pid, monkeypatch):
    rank_first(store, pid, idx_of(store, pid, range(POOL)))
    writes = []
    transact = store.transact  # without group commit, transact_later runs through transact
    monkeypatch.setattr(store, "transact", lambda write: writes.append(write) or transact(write))
    order = idx_of(store, pid, range(POOL - 1, -1, -1))
    outcome = RoundWrite({"ran": True}, lambda conn, gen: record_cold_start(pid, POOL, "cold_start:test", 0, conn, gen=gen),
                         Ranking(pid, order, None))
    record_round_write(store, outcome)
    chunks = -(-POOL // CHUNK_ROWS)
    # begin, the chunks, the switch, then clearing the old rows a few chunks at a time to an empty one
    assert len(writes) == 1 + chunks + 1 + STAGE_IN_FLIGHT * (chunks // STAGE_IN_FLIGHT + 1)
    assert served(store, pid, n=3) == [POOL - 1, POOL - 2, POOL - 3]
    assert list(queue_rows(store, pid).values()) == [POOL]


def test_the_first_ranking_lands_in_one_write(store, pid, monkeypatch):
    # before any ranking /next serves pool order, so nothing gains from holding it back
    writes = []
    transact = store.transact
    monkeypatch.setattr(store, "transact", lambda write: writes.append(write) or transact(write))
    order = idx_of(store, pid, range(POOL - 1, -1, -1))
    outcome = RoundWrite({"ran": True}, lambda conn, gen: record_cold_start(pid, POOL, "cold_start:test", 0, conn, gen=gen),
                         Ranking(pid, order, None))
    record_round_write(store, outcome)
    assert len(writes) == 2  # begin, then stage + switch together
    assert served(store, pid, n=2) == [POOL - 1, POOL - 2]
