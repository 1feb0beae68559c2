"""Shared fixtures: a fresh store, an in-process app, the digits data, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_digits

from alloop.app import create_app
from alloop.settings import Settings
from alloop.store import Store


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
