"""Group commit: many small write transactions share one durable COMMIT.

With ``synchronous=FULL`` every commit waits for an fsync of the WAL (milliseconds), and
all writes are serialized, so fifty annotators polling ``/next`` would queue behind one
fsync each. Instead, request threads hand their write to one committer thread, which runs
every write waiting at that moment inside one ``BEGIN IMMEDIATE`` transaction, each in its
own SAVEPOINT, then commits once. The observable behaviour is exactly that of running the
writes one after another:

- they execute in arrival order on one connection, so each sees the ones before it;
- a write that raises is rolled back to its savepoint alone and its caller gets the error;
- no caller gets an answer before the COMMIT that made its write durable returns; if that
  COMMIT fails, every write in the group fails with it (nothing was acknowledged).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["GroupCommitter"]

log = logging.getLogger("alloop.store")

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]


class GroupCommitter:
    """One thread that runs queued writes in shared transactions.

    Parameters
    ----------
    connect : opens the committer's own connection (called on its thread)
    lock : the store's writer lock, held for each group so other writers stay serialized
    max_group : most writes in one transaction (bounds how long the lock is held)
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock: threading.Lock, max_group: int = 64) -> None:
        self._connect = connect
        self._lock = lock
        self._max_group = max_group
        self._queue: queue.SimpleQueue[tuple[Write, Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="alloop-commit", daemon=True)
        self._closed = False
        self.groups = 0  # transactions committed
        self.writes = 0  # writes they carried
        self._thread.start()

    def submit(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``write(conn)`` in the next group; returns its result once it is durable."""
        return self.enqueue(write).result()

    def enqueue(self, write: Callable[[sqlite3.Connection], T]) -> Future:
        """Queue ``write`` for the next group; the future resolves once it is durable."""
        if self._closed:
            raise RuntimeError("the store is closed")
        future: Future = Future()
        self._queue.put((write, future))
        return future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _take_group(self, first: tuple[Write, Future]) -> tuple[list[tuple[Write, Future]], bool]:
        group, stop = [first], False
        while len(group) < self._max_group:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                stop = True
                break
            group.append(entry)
        return group, stop

    def _run(self) -> None:
        conn = None
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group, stop = self._take_group(first)
                if conn is not None and getattr(conn, "broken", False):  # PostgreSQL: the connection was lost
                    conn.close()
                    conn = None
                try:
                    conn = conn or self._connect()
                except Exception as exc:  # noqa: BLE001 (the database does not answer: this group fails)
                    for _, future in group:
                        future.set_exception(exc)
                else:
                    self._commit(conn, group)
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _commit(self, conn: sqlite3.Connection, group: list[tuple[Write, Future]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for write, _ in group:
                    outcomes.append(self._one(conn, write))
                conn.execute("COMMIT")
                self.groups += 1
                self.writes += len(group)
            except BaseException as exc:  # BEGIN or COMMIT failed: nothing in the group is durable
                log.exception("group commit of %d writes failed", len(group))
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 (a lost connection: nothing left to undo; the thread lives on)
                    log.exception("rollback after a failed group commit failed")
                for _, future in group:
                    future.set_exception(exc)
                return
        for (_, future), (ok, value) in zip(group, outcomes):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    @staticmethod
    def _one(conn: sqlite3.Connection, write: Write) -> tuple[bool, Any]:
        conn.execute("SAVEPOINT one")
        try:
            value = write(conn)
        except Exception as exc:  # noqa: BLE001 (this write alone is undone; its caller gets the error)
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            return False, exc
        conn.execute("RELEASE one")
        return True, value
