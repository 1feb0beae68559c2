"""Shared fixtures: a fresh store, an in-process app, the digits data, a real server.

``--store postgresql`` (or ``ALLOOP_TEST_STORE=postgresql``) runs every test against PostgreSQL:
one throwaway cluster for the session (tests/pgserver.py), a fresh database per test copied from a
migrated template, named by ``ALLOOP_STORE`` for every store the test opens (in-process or in the
servers it starts). Tests of the SQLite file itself are marked ``sqlite_only``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_digits

from alloop.app import create_app
from alloop.settings import Settings
from alloop.store import Store


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store", choices=("sqlite", "postgresql"), default=os.environ.get("ALLOOP_TEST_STORE", "sqlite"),
        help="the store every test runs against (default: sqlite, or ALLOOP_TEST_STORE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: tests the SQLite file itself (not run with --store postgresql)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--store") == "postgresql":
        deselected = [item for item in items if item.get_closest_marker("sqlite_only")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("sqlite_only")]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole session (tests/pgserver.py)."""
    from pgserver import PostgresCluster

    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


_DATABASES = itertools.count()


@pytest.fixture(scope="session")
def _postgres_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> object | None:
    """With --store postgresql: the cluster, holding a database at the current schema to copy per test."""
    if request.config.getoption("--store") != "postgresql":
        return None
    cluster = request.getfixturevalue("postgres_cluster")
    cluster.execute("CREATE DATABASE alloop_template")
    Store(tmp_path_factory.mktemp("template"), url=cluster.url_for("alloop_template")).close()
    return cluster


@pytest.fixture(autouse=True)
def _store_url(_postgres_template: object | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """With --store postgresql: a fresh database for this test, named by ALLOOP_STORE."""
    if _postgres_template is None:
        monkeypatch.delenv("ALLOOP_STORE", raising=False)
        yield
        return
    cluster = _postgres_template
    name = f"t{next(_DATABASES)}"
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE alloop_template")
    monkeypatch.setenv("ALLOOP_STORE", cluster.url_for(name))
    yield
    cluster.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05, worker="thread")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.data_dir)
    yield s
    s.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y
