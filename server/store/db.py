"""Connections, pragmas and the single-writer transaction (SQLite, or PostgreSQL shared by replicas)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from concurrent.futures import Future
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from alloop.store.group import GroupCommitter
from alloop.store.schema_postgres import migrate_postgres
from alloop.store.schema import migrate

__all__ = ["Store", "connect", "write_blank"]

T = TypeVar("T")


JOURNAL_MODES = ("WAL", "MEMORY")
ROUND_LOCK = 0x616C  # the advisory lock class of a project's rounds (PostgreSQL; the project id is the key)


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return bool(url) and url.split(":", 1)[0] in ("postgresql", "postgres")


def connect(path: Path, *, synchronous: str = "FULL", journal_mode: str = "WAL") -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with the store's pragmas (WAL, busy timeout, FKs).

    ``journal_mode="MEMORY"`` is for a throwaway store used from one thread (a simulated campaign):
    no reader runs beside a write, and nothing need survive a crash. A batch-1 round there made
    three commits and a handful of reads, and the WAL's frames and index cost 1 ms of its 4. Such a
    store also holds its file lock for good (``locking_mode=EXCLUSIVE``): taking and dropping the
    lock, and checking that no one else wrote, cost 10 us of a 15 us read transaction and 20 us of
    a 30 us write; a second connection to it waits for the busy timeout and fails.
    """
    if journal_mode not in JOURNAL_MODES:
        raise ValueError(f"journal_mode {journal_mode!r}: use one of {', '.join(JOURNAL_MODES)}")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    if journal_mode == "MEMORY":
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_BLANK: sqlite3.Connection | None = None  # an in-memory database at the current schema, made once per process
_BLANK_LOCK = threading.Lock()


def _blank() -> sqlite3.Connection:
    """An in-memory database at the current schema and no rows, migrated once per process."""
    global _BLANK
    if _BLANK is None:
        blank = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        blank.execute("BEGIN IMMEDIATE")
        migrate(blank)
        blank.execute("COMMIT")
        _BLANK = blank
    return _BLANK


def write_blank(path: Path, *, durable: bool = False) -> None:
    """Write a new database file at ``path`` holding the current schema and no rows: a copy of one
    migrated in memory once per process. Migrating from scratch costs about 15 ms, which a
    150-round simulated campaign paid as 0.1 ms a round. ``durable``: the file is synced to disk
    (without it, for a throwaway store, nothing is)."""
    with _BLANK_LOCK:
        target = sqlite3.connect(path, isolation_level=None)
        try:
            target.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            _blank().backup(target)
        finally:
            target.close()


def _create(path: Path) -> None:
    """Make a new store's database file at ``path`` as a copy of the blank one, whole or not at all:
    written beside it, synced, and linked into place only if no other process made it meanwhile.
    Migrating a new file from scratch took about 80 ms of every new store's start."""
    partial = path.with_name(f"{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        write_blank(partial, durable=True)
        try:
            os.link(partial, path)
        except FileExistsError:
            return  # another process made it first: that one is opened (and migrated if need be)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        partial.unlink(missing_ok=True)


class Store:
    """Thread-local read connections and one serialized writer over one database.

    The database is the SQLite file ``alloop.db`` in ``data_dir`` (the default), or the PostgreSQL
    database at ``url`` (``postgresql://...``; when not given, the ``ALLOOP_STORE`` environment
    variable), which several servers may share (:mod:`alloop.store.postgres`: the same SQL, writes
    serialized by an advisory lock). ``data_dir`` holds the feature files and saved models either
    way, so replicas sharing a PostgreSQL database share that folder too. A throwaway store
    (``journal_mode="MEMORY"``, a simulated campaign) is always SQLite.

    With ``group_commit`` (the server's store), :meth:`transact` hands writes to one
    committer thread that makes concurrent writes durable with a single commit; without
    it (workers, simulations, the CLI) :meth:`transact` is a plain :meth:`write`.
    """

    def __init__(
        self, data_dir: Path, *, synchronous: str = "FULL", group_commit: bool = False, journal_mode: str = "WAL",
        url: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "alloop.db"
        self.synchronous = synchronous
        self.journal_mode = journal_mode
        if url is None and journal_mode != "MEMORY":
            url = os.environ.get("ALLOOP_STORE") or None
        if url is not None and not is_postgres_url(url):
            scheme = url.split("://", 1)[0] if "://" in url else "no scheme"  # never print a password
            raise ValueError(f"store {scheme!r}: give a postgresql://... URL, or none for the SQLite file in the data dir")
        self.url = url
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._paths: dict[int, Path] = {}
        self._group_commit = group_commit
        self._committer: GroupCommitter | None = None  # started on first use
        self._committer_lock = threading.Lock()
        if self.url is None and not self.path.exists():
            _create(self.path)
        try:
            with self.write() as conn:
                if self.url is None:
                    migrate(conn)  # an older file is brought up to date; a new one already is
                else:
                    migrate_postgres(conn)
        except BaseException:
            self.close()  # a refused or failed start leaves no connection open
            raise

    @property
    def durable(self) -> bool:
        """Whether what is written must survive a crash: false for a throwaway store (journal in
        memory), whose feature files are then written without an fsync."""
        return self.journal_mode != "MEMORY"

    def project_path(self, project_id: int) -> Path:
        """Folder for a project's feature files and model artifacts (not created)."""
        path = self._paths.get(project_id)
        if path is None:  # building the path costs more than the SQL a cached snapshot runs
            path = self._paths[project_id] = self.data_dir / "projects" / str(project_id)
        return path

    def project_dir(self, project_id: int) -> Path:
        """:meth:`project_path`, created if missing (for writers)."""
        path = self.project_path(project_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def postgres(self) -> bool:
        """Whether the database is PostgreSQL (shared by replicas) rather than the SQLite file."""
        return self.url is not None

    def _connect(self) -> sqlite3.Connection:
        if self.url is not None:
            try:
                from alloop.store.postgres import connect_postgres
            except ImportError:
                raise ImportError("a PostgreSQL store needs psycopg: pip install 'alloop[postgres]'") from None

            return connect_postgres(self.url)  # type: ignore[return-value]  (sqlite3's surface)
        return connect(self.path, synchronous=self.synchronous, journal_mode=self.journal_mode)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(conn, "broken", False):  # a PostgreSQL connection that was lost
            if conn in self._all:
                self._all.remove(conn)
            conn.close()
            conn = self._local.conn = None
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._all.append(conn)
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (a deferred transaction)."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The one writer: ``BEGIN IMMEDIATE``, commit on success, roll back on any error."""
        conn = self.conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def round_lock(self, project_id: int) -> Iterator[bool]:
        """Whether this server may run ``project_id``'s round now (True), held until the block ends.

        On SQLite one server owns the file: always True. On PostgreSQL, replicas share the database,
        and exactly one of them runs a project's round at a time: a session advisory lock on this
        thread's connection, taken without waiting (False: another replica has it). It dies with the
        session, so a replica killed mid-round frees it.
        """
        if self.url is None:
            yield True
            return
        conn = self.conn()
        held = conn.execute("SELECT pg_try_advisory_lock(?, ?)", (ROUND_LOCK, project_id)).fetchone()[0]
        try:
            yield bool(held)
        finally:
            if held and not getattr(conn, "broken", False):
                conn.execute("SELECT pg_advisory_unlock(?, ?)", (ROUND_LOCK, project_id))

    def _group(self) -> GroupCommitter | None:
        if not self._group_commit:
            return None
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self._connect, self._write_lock)
            return self._committer

    def transact(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``write(conn)`` as one all-or-nothing write; returns once it is durable."""
        committer = self._group()
        if committer is not None:
            return committer.submit(write)
        with self.write() as conn:
            return write(conn)

    def transact_later(self, write: Callable[[sqlite3.Connection], T]) -> Future:
        """Queue ``write`` and return at once; the future resolves once it is durable.

        Writes commit in the order they were queued. Without group commit the write runs now.
        """
        committer = self._group()
        if committer is not None:
            return committer.enqueue(write)
        done: Future = Future()
        try:
            done.set_result(self.transact(write))
        except Exception as exc:  # noqa: BLE001 (handed to the caller through the future)
            done.set_exception(exc)
        return done

    async def transact_async(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`transact` for the event loop: awaits the commit without holding a thread."""
        committer = self._group()
        if committer is not None:
            return await asyncio.wrap_future(committer.enqueue(write))
        return await anyio.to_thread.run_sync(self.transact, write)

    def close(self) -> None:
        """Close every connection this store opened, never in the middle of a write."""
        with self._committer_lock:
            if self._committer is not None:
                self._committer.close()
                self._committer = None
        with self._write_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._local = threading.local()
