"""The PostgreSQL store keeps SQLite's schema and semantics (issue 16): same tables and columns, same
triggers, migrations in step, and the SQL translation of what differs between the two engines."""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest

from alloop.store import Store
from alloop.store.postgres import translate
from alloop.store.schema import SCHEMA_VERSION, migrate
from alloop.store.schema_postgres import BASELINE_VERSION, MIGRATIONS


def sqlite_schema() -> tuple[dict[str, set[str]], set[str]]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn)
    conn.execute("COMMIT")
    tables = {name: {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
              for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    triggers = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    return tables, triggers


@pytest.fixture
def database(postgres_cluster, request) -> str:
    name = "schema_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    postgres_cluster.execute(f"CREATE DATABASE {name}")
    yield postgres_cluster.url_for(name)
    postgres_cluster.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_both_engines_hold_the_same_tables_columns_and_triggers(tmp_path, database):
    assert SCHEMA_VERSION == BASELINE_VERSION + len(MIGRATIONS)  # a new migration is written for both
    Store(tmp_path, url=database).close()
    with psycopg.connect(database) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        triggers = {row[0] for row in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    tables: dict[str, set[str]] = {}
    for table, column in columns:
        tables.setdefault(table, set()).add(column)
    assert tables.pop("schema_version") == {"version"} and version == SCHEMA_VERSION
    expected_tables, expected_triggers = sqlite_schema()
    assert tables == expected_tables
    assert triggers == expected_triggers


def test_replicas_starting_together_migrate_once_and_reopen_cleanly(tmp_path, database):
    errors: list[BaseException] = []

    def open_store(k: int) -> None:
        try:
            Store(tmp_path / str(k), url=database).close()
        except BaseException as exc:  # noqa: BLE001 (collected for the assertion)
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_a_newer_database_is_refused(tmp_path, database):
    Store(tmp_path, url=database).close()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(RuntimeError, match="newer than this alloop"):
        Store(tmp_path, url=database)


@pytest.mark.parametrize(("sqlite", "postgres"), [
    ("SELECT * FROM items WHERE idx = ? AND ext_id LIKE 'a%'", "SELECT * FROM items WHERE idx = %s AND ext_id LIKE 'a%%'"),
    ("SELECT :p, :p2 FROM t", "SELECT %(p)s, %(p2)s FROM t"),
    ("SELECT '?' || ? FROM t", "SELECT '?' || %s FROM t"),
    ("INSERT OR IGNORE INTO labelstudio_paused (project_id, task_id) VALUES (?, ?)",
     "INSERT INTO labelstudio_paused (project_id, task_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
    ("UPDATE projects SET near_row = MAX(near_row, ?) WHERE id = ?",
     "UPDATE projects SET near_row = GREATEST(near_row, %s) WHERE id = %s"),
    ("SELECT MAX(version) FROM model_versions", "SELECT MAX(version) FROM model_versions"),
    ("SELECT 1 FROM items i INDEXED BY items_open WHERE i.labeled = 0", "SELECT 1 FROM items i WHERE i.labeled = 0"),
    ("DELETE FROM queue WHERE rowid IN (SELECT rowid FROM queue LIMIT ?)",
     "DELETE FROM queue WHERE ctid IN (SELECT ctid FROM queue LIMIT %s)"),
])
def test_the_sql_both_engines_share_is_translated(sqlite, postgres):
    assert translate(sqlite)[0] == postgres


def test_insert_or_replace_is_an_upsert_on_the_primary_key():
    text, returning = translate("INSERT OR REPLACE INTO leases (item_idx, project_id, annotator, expires_at) "
                                "VALUES (?, ?, ?, ?)", ("item_idx", "annotator"))
    assert text.endswith("ON CONFLICT (item_idx, annotator) DO UPDATE SET project_id = EXCLUDED.project_id, "
                         "expires_at = EXCLUDED.expires_at")
    assert returning is None
    # a single-row insert into a table with an identity key returns it (sqlite3's lastrowid)
    assert translate("INSERT INTO labels (item_idx) VALUES (?)")[1] == "id"
    with pytest.raises(ValueError, match="primary key"):
        translate("INSERT OR REPLACE INTO t VALUES (?)")
