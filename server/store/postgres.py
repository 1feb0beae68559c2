"""PostgreSQL connections that speak the store's SQL (psycopg 3).

The store's SQL is written once, in the dialect both engines share, and this module makes a
psycopg connection look like the ``sqlite3`` connection the store uses (``execute``, ``executemany``,
``cursor()``, rows read by position or name, ``lastrowid``, ``total_changes``, ``in_transaction``).
:func:`translate` turns what differs into PostgreSQL once per statement text (cached):

- ``?`` and ``:name`` parameters become ``%s`` and ``%(name)s``;
- ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``, ``INSERT OR REPLACE`` an upsert on the
  table's primary key (read from the catalog once per connection);
- the scalar ``MAX(a, b)`` becomes ``GREATEST(a, b)``, ``rowid`` becomes ``ctid``;
- ``BEGIN IMMEDIATE`` (the store's writer transaction) becomes ``BEGIN`` plus a transaction-scoped
  advisory lock (:data:`WRITE_LOCK`), so writes are serialized across every replica that shares the
  database exactly as SQLite serializes them across threads: whatever a write reads (a lease, a
  submission key, the budget) no other write changes before it commits. A plain ``BEGIN`` (a read)
  is a REPEATABLE READ snapshot, as SQLite's deferred transaction is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg

from alloop.errors import StoreUnavailable
from psycopg.adapt import Dumper, Loader
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.rows import tuple_row

__all__ = ["PgConnection", "connect_postgres", "translate", "WRITE_LOCK"]

WRITE_LOCK = 0x616C6C6F6F70  # "alloop": the advisory lock every write transaction takes

# tables whose key is an identity column: a single-row INSERT returns it (``lastrowid``)
IDENTITY = {"projects": "id", "items": "idx", "labels": "id", "batches": "id", "votes": "id", "tokens": "id",
            "reviews": "id"}


_STRING = re.compile(r"('(?:[^']|'')*')")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_INSERT_OR = re.compile(r"^\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.I | re.S)
_SCALAR_MAX = re.compile(r"\bMAX\(([^(),]+),([^(),]+)\)", re.I)
_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)


def replaced_table(sql: str) -> str | None:
    """The table an ``INSERT OR REPLACE`` writes, or None."""
    match = _INSERT_OR.match(sql)
    return match.group(2) if match and match.group(1).upper() == "REPLACE" else None


@lru_cache(maxsize=4096)
def translate(sql: str, key: tuple[str, ...] | None = None) -> tuple[str, str | None]:
    """``sql`` in PostgreSQL's dialect, and the identity column a single-row INSERT should return;
    ``key``: the primary key of the table an ``INSERT OR REPLACE`` writes."""
    parts = _STRING.split(sql)
    out = []
    for k, part in enumerate(parts):
        if k % 2:  # a string literal: only % needs escaping
            out.append(part.replace("%", "%%"))
            continue
        part = part.replace("%", "%%").replace("?", "%s")
        part = _NAMED.sub(r"%(\1)s", part)
        part = _SCALAR_MAX.sub(r"GREATEST(\1,\2)", part)
        part = re.sub(r"\browid\b", "ctid", part)
        part = _INDEXED_BY.sub("", part)  # SQLite's index hint: PostgreSQL's planner picks the partial index itself
        out.append(part)
    text = "".join(out)
    match = _INSERT_OR.match(text)
    if match:
        verb, table, columns = match.group(1).upper(), match.group(2), match.group(4)
        text = "INSERT INTO " + text[match.start(2):]
        if verb == "IGNORE":
            conflict = " ON CONFLICT DO NOTHING"
        else:
            if columns is None or not key:
                raise ValueError(f"INSERT OR REPLACE into {table} needs its columns named and a primary key")
            rest = [c.strip() for c in columns.split(",") if c.strip() not in key]
            update = ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
            conflict = f" ON CONFLICT ({', '.join(key)}) " + (f"DO UPDATE SET {update}" if rest else "DO NOTHING")
        text = _append(text, conflict)
    returning = None
    insert = _INSERT.match(text)
    if insert and insert.group(1) in IDENTITY and "RETURNING" not in text.upper():
        returning = IDENTITY[insert.group(1)]
    return text, returning


def _append(sql: str, clause: str) -> str:
    """``clause`` before a RETURNING clause if there is one, else at the end."""
    at = sql.upper().rfind(" RETURNING ")
    if at < 0:
        return sql.rstrip().rstrip(";") + clause
    return sql[:at] + clause + sql[at:]


class Row(tuple):
    """A row read by position or by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _named_rows(cursor: psycopg.Cursor) -> Any:
    if cursor.description is None:
        return tuple_row(cursor)
    return _row_class(tuple(c.name for c in cursor.description))


class _NumericLoader(Loader):
    """SUM over BIGINT and AVG are NUMERIC in PostgreSQL: read them as int or float, as SQLite gives them."""

    def load(self, data: Any) -> Any:
        text = bytes(data).decode()
        if text.lstrip("-").isdigit():
            return int(text)
        return float(text)


class _BoolDumper(Dumper):
    """A Python bool is 1 or 0 (the store's flags are integer columns, as in SQLite)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class PgCursor:
    """A cursor with sqlite3's surface: ``execute`` returns the cursor, rows by name or position."""

    def __init__(self, owner: PgConnection) -> None:
        self._owner = owner
        with _reachable():
            self._cursor = owner.raw.cursor()
        self.row_factory: Any = Row  # None: plain tuples (what ``sqlite3`` callers set for speed)
        self.lastrowid: int | None = None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = ()) -> PgCursor:
        text, returning = self._owner.translate(sql)
        self._cursor.row_factory = tuple_row if self.row_factory is None else _named_rows
        with _reachable():
            self._cursor.execute(text + (f" RETURNING {returning}" if returning else ""), _args(params))
        if returning:
            self.lastrowid = self._cursor.fetchone()[0]
        self._owner._count(text, self._cursor.rowcount)
        return self

    def executemany(self, sql: str, seq: Iterable[Any]) -> PgCursor:
        text, _ = self._owner.translate(sql)
        rows = [_args(p) for p in seq]
        if rows:
            with _reachable():
                self._cursor.executemany(text, rows)
            self._owner._count(text, self._cursor.rowcount)
        return self

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def fetchmany(self, size: int) -> list[Any]:
        return self._cursor.fetchmany(size) if self._cursor.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._cursor.close()


@contextmanager
def _reachable() -> Iterator[None]:
    """A lost connection (the server stopped, the network broke) is :class:`StoreUnavailable`."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"the PostgreSQL store is unavailable: {str(exc).strip() or type(exc).__name__}") from exc


def _args(params: Any) -> Any:
    if params is None or isinstance(params, dict):
        return params
    return tuple(params)


class PgConnection:
    """One psycopg connection in autocommit mode, driven by the store's own BEGIN/COMMIT."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw
        self.total_changes = 0
        self._keys: dict[str, tuple[str, ...]] = {}

    def translate(self, sql: str) -> tuple[str, str | None]:
        """:func:`translate`, with the primary key of the table an ``INSERT OR REPLACE`` writes."""
        table = replaced_table(sql)
        if table is None:
            return translate(sql)
        key = self._keys.get(table)
        if key is None:
            with _reachable():
                rows = self.raw.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                    "ORDER BY array_position(i.indkey::int2[], a.attnum)", (table,),
                ).fetchall()
            key = self._keys[table] = tuple(r[0] for r in rows)
        return translate(sql, key)

    def _count(self, text: str, rowcount: int) -> None:
        if rowcount > 0 and text.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.total_changes += rowcount

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    @property
    def broken(self) -> bool:
        """Whether the connection is lost (the store opens a new one)."""
        return self.raw.broken or self.raw.closed or self.raw.info.status != ConnStatus.OK

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = ()) -> PgCursor:
        word = sql.strip().upper()
        if word == "BEGIN IMMEDIATE":
            with _reachable():
                self.raw.execute("BEGIN")
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return PgCursor(self)
        if word in ("BEGIN", "BEGIN DEFERRED"):
            with _reachable():
                self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            return PgCursor(self)
        if word == "ROLLBACK":
            try:
                with _reachable():
                    self.raw.execute("ROLLBACK")
            except StoreUnavailable:
                pass  # nothing to undo on a lost connection: the server rolled the transaction back
            return None  # type: ignore[return-value]  (nobody reads ROLLBACK's cursor)
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Any]) -> PgCursor:
        return PgCursor(self).executemany(sql, seq)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()

    def __del__(self) -> None:
        # like sqlite3: a connection dropped without close() is closed quietly (a Store never closed)
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            try:
                raw.close()
            except Exception:  # noqa: BLE001 (interpreter teardown: nothing left to tell)
                pass


def connect_postgres(url: str, *, connect_timeout: float = 10.0) -> PgConnection:
    """Open ``url`` (``postgresql://...``) in autocommit mode; numbers read as SQLite gives them."""
    with _reachable():
        raw = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
    raw.adapters.register_loader("numeric", _NumericLoader)
    raw.adapters.register_dumper(bool, _BoolDumper)
    return PgConnection(raw)
