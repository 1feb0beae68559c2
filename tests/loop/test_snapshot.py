"""A round reads only the labels added since the last read, and everything whenever anything else
changed: the result is always what a whole read gives."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import store_campaign

from alloop import campaign
from alloop.loop import snapshot
from alloop.loop.snapshot import forget_snapshots, take_snapshot
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import import_items
from alloop.store.labels import submit_labels
from alloop.store.projects import get_project
from alloop.store.votes import change_vote, withdraw_vote


def whole(store, pid):
    forget_snapshots()
    return take_snapshot(store, pid)


def same(a, b):
    for field in ("labeled_rows", "labeled_y", "pool_idx", "pool_rows", "eval_rows", "eval_y", "pool_costs"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.n_labeled == b.n_labeled and np.array_equal(np.asarray(a.X), np.asarray(b.X))


def label(store, pid, digits, ids, who="a"):
    _, y = digits
    submit_labels(store, pid, [LabelIn(item_id=i, label=str(y[i]), annotator=who) for i in ids], time.time())


@pytest.fixture
def reads(monkeypatch):
    """Counts whole reads (the labels-only path is the other one)."""
    calls = []
    real = snapshot._full
    monkeypatch.setattr(snapshot, "_full", lambda *a: calls.append(1) or real(*a))
    forget_snapshots()
    return calls


def test_added_labels_are_read_alone_and_give_a_whole_reads_snapshot(store, settings, digits, reads):
    pid = store_campaign(store, settings, digits, pool=120, evals=40)
    first = take_snapshot(store, pid)
    assert len(reads) == 1 and first.pool_idx.size == 120 and first.labeled_rows.size == 0
    label(store, pid, digits, [5, 17, 3])
    added = take_snapshot(store, pid)
    assert len(reads) == 1  # the three new labels only
    assert first.pool_idx.size == 120  # an update builds new arrays; what was handed out stays
    label(store, pid, digits, [40])
    again = take_snapshot(store, pid)
    assert len(reads) == 1 and again.n_labeled == 4
    same(again, whole(store, pid))
    assert added.labeled_rows.size == 3


def test_labels_alone_keep_the_feature_map_and_new_items_open_it_again(store, settings, digits, monkeypatch):
    """While only labels change, a round reads through the map it already holds (same items, same
    rows); an import opens the grown file, and its new rows reach the round."""
    from alloop.store.features import FeatureFile

    X, _ = digits
    pid = store_campaign(store, settings, digits, pool=50, evals=10)
    opened = []
    real = FeatureFile.matrix
    monkeypatch.setattr(FeatureFile, "matrix", lambda self: opened.append(1) or real(self))
    forget_snapshots()
    first = take_snapshot(store, pid)
    label(store, pid, digits, [0, 1])
    second = take_snapshot(store, pid)
    assert len(opened) == 1 and second.X is first.X and second.labeled_rows.size == 2
    import_items(store, pid, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(900, 905)])
    grown = take_snapshot(store, pid)
    assert len(opened) == 2 and grown.X.shape[0] == first.X.shape[0] + 5
    assert np.array_equal(np.asarray(grown.X[grown.pool_rows[-5:]]), X[900:905].astype(np.float32))
    same(grown, whole(store, pid))


def test_a_relabel_or_a_retraction_reads_everything(store, settings, digits, reads):
    pid = store_campaign(store, settings, digits, pool=60, evals=20, labels_per_item=2, budget=120)
    take_snapshot(store, pid)
    label(store, pid, digits, [1, 2], who="a")
    label(store, pid, digits, [1, 2], who="b")  # both items decided
    take_snapshot(store, pid)
    count = len(reads)
    _, y = digits
    with store.read() as conn:
        idx = conn.execute("SELECT idx FROM items WHERE project_id = ? AND ext_id = '1'", (pid,)).fetchone()[0]
        project = get_project(conn, pid)
    store.transact(lambda conn: change_vote(conn, idx, "a", str((y[1] + 1) % 10)))  # a relabels in Label Studio
    changed = take_snapshot(store, pid)
    assert len(reads) == count + 1
    same(changed, whole(store, pid))
    count = len(reads)
    store.transact(lambda conn: withdraw_vote(conn, project, idx, "b"))  # the item loses its final label
    back = take_snapshot(store, pid)
    assert len(reads) == count + 1 and back.pool_idx.size == 59  # 60, less the one still decided
    same(back, whole(store, pid))


def test_new_items_read_everything(store, settings, digits, reads):
    X, y = digits
    pid = store_campaign(store, settings, digits, pool=50, evals=10)
    take_snapshot(store, pid)
    label(store, pid, digits, [0, 1])
    import_items(store, pid, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(900, 910)])
    count = len(reads)
    grown = take_snapshot(store, pid)
    assert len(reads) == count + 1 and grown.pool_idx.size == 58
    same(grown, whole(store, pid))


def test_two_stores_never_share_a_read(tmp_path, digits):
    from alloop.settings import Settings
    from alloop.store import Store

    snaps = []
    for name, pool in (("a", 30), ("b", 40)):
        settings = Settings(data_dir=tmp_path / name, worker="thread")
        store = Store(settings.data_dir)
        pid = store_campaign(store, settings, digits, pool=pool, evals=5)
        snaps.append(take_snapshot(store, pid).pool_idx.size)
        store.close()
    assert snaps == [30, 40]


def test_a_read_between_an_imports_rows_and_its_commit_is_not_kept(store, settings, digits, monkeypatch):
    """An import writes its vectors before its items commit: a round reading in between sees the
    file's new rows but not the items. The next round must read everything, not build on that."""
    import threading

    from alloop.store import items as items_module

    X, y = digits
    pid = store_campaign(store, settings, digits, pool=60, evals=0)
    forget_snapshots()
    take_snapshot(store, pid)
    seen = {}
    real_append = items_module.FeatureFile.append

    def append_then_read(self, matrix, durable=True):
        start = real_append(self, matrix, durable)
        # another thread (a round) reads while this import still holds its uncommitted items
        reader = threading.Thread(target=lambda: seen.setdefault("snap", take_snapshot(store, pid)))
        reader.start()
        reader.join()
        return start

    monkeypatch.setattr(items_module.FeatureFile, "append", append_then_read)
    evals = [ItemIn(id=f"e{i}", features=X[i].tolist(), label=str(y[i])) for i in range(100, 130)]
    import_items(store, pid, "eval", evals)
    monkeypatch.undo()
    # the race, as a round saw it: no new items, so the feature map it already had (60 rows, not 90)
    assert seen["snap"].eval_rows.size == 0 and seen["snap"].X.shape[0] == 60
    label(store, pid, digits, [1, 2])
    after = take_snapshot(store, pid)
    assert after.eval_rows.size == 30
    same(after, whole(store, pid))


def test_duplicates_skipped_by_a_label_leave_the_pool_of_the_next_read(store, settings, digits, reads):
    """With dedup on, a label skips its item's duplicates (schema v14): the next round must not keep
    them in its pool, which the labels-only read would."""
    X, y = digits
    pid = campaign.create_project(store, settings, ProjectCreate(
        name="t", labels=[str(d) for d in range(10)], batch_size=10, retrain_every=20, dedup="skip")).id
    pool = [ItemIn(id=f"p{i}", features=X[i % 30].tolist()) for i in range(60)]  # every vector twice
    import_items(store, pid, "pool", pool)
    first = take_snapshot(store, pid)
    assert first.pool_idx.size == 60
    submit_labels(store, pid, [LabelIn(item_id="p3", label=str(y[3]), annotator="a")], time.time())
    after = take_snapshot(store, pid)
    assert after.pool_idx.size == 58  # p3 labeled, p33 skipped
    same(after, whole(store, pid))


@pytest.mark.parametrize("n", [1, 16, 17, 50])
def test_any_number_of_added_labels_leaves_the_pool_a_whole_read_gives(store, settings, digits, reads, n):
    pid = store_campaign(store, settings, digits, pool=120, evals=10)
    take_snapshot(store, pid)
    label(store, pid, digits, list(range(3, 3 + 2 * n, 2)))
    added = take_snapshot(store, pid)
    assert len(reads) == 1 and added.pool_idx.size == 120 - n
    same(added, whole(store, pid))
