"""Group commit: concurrent writes share one COMMIT but behave as if run one after another."""

from __future__ import annotations

import threading
import time

import pytest

from alloop.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path, group_commit=True)
    with store.write() as conn:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    yield store
    store.close()


def _insert(k: int, fail: bool = False):
    def write(conn):
        conn.execute("INSERT INTO t VALUES (?, ?)", (k, f"v{k}"))
        if fail:
            raise ValueError(f"write {k} refused")
        return k

    return write


def test_writes_queued_together_share_one_commit_and_fail_alone(store):
    results: dict[int, object] = {}

    def call(k: int, fail: bool = False) -> None:
        try:
            results[k] = store.transact(_insert(k, fail))
        except ValueError as exc:
            results[k] = exc

    store.transact(_insert(0))  # the committer thread exists now
    with store._write_lock:  # the committer blocks on its next group while these queue up
        threads = [threading.Thread(target=call, args=(1,))]
        threads[0].start()
        time.sleep(0.2)
        for k, fail in ((2, True), (3, False), (4, False)):
            threads.append(threading.Thread(target=call, args=(k, fail)))
            threads[-1].start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(10)

    assert results[1] == 1 and results[3] == 3 and results[4] == 4
    assert isinstance(results[2], ValueError)
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")] == [0, 1, 3, 4]
    committer = store._committer
    assert committer.writes == 5 and committer.groups == 3  # [0], [1], [2, 3, 4]


def test_each_write_sees_the_ones_before_it(store):
    def bump(conn):
        row = conn.execute("SELECT v FROM t WHERE k = 1").fetchone()
        n = int(row[0]) + 1 if row else 1
        conn.execute("INSERT OR REPLACE INTO t (k, v) VALUES (1, ?)", (str(n),))
        return n

    threads = [threading.Thread(target=lambda: [store.transact(bump) for _ in range(50)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with store.read() as conn:
        assert conn.execute("SELECT v FROM t WHERE k = 1").fetchone()[0] == "400"
    assert store._committer.writes == 400


def test_an_answer_means_durable(tmp_path):
    store = Store(tmp_path, group_commit=True)
    with store.write() as conn:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    for k in range(20):
        store.transact(_insert(k))
    # A second store on the same file (another process after a crash would see the same).
    other = Store(tmp_path)
    with other.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 20
    other.close()
    store.close()


def test_without_group_commit_transact_is_a_plain_write(tmp_path):
    store = Store(tmp_path)
    with store.write() as conn:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    with pytest.raises(ValueError):
        store.transact(_insert(1, fail=True))
    assert store.transact(_insert(2)) == 2
    with store.read() as conn:
        assert [r[0] for r in conn.execute("SELECT k FROM t")] == [2]
    assert store._committer is None
    store.close()
