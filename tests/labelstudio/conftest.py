"""Fixtures for the Label Studio tests: the real Label Studio (own venv), and a real alloop server.

One Label Studio serves the whole test session (starting one takes 5-15 s): each test makes its own
Label Studio project (and its own alloop server), so the tests share nothing but the two users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lsserver import TOKEN, LabelStudioProcess, ensure_label_studio, user_token

from alloop.client import Client
from alloop.labelstudio.lsapi import LabelStudio
from alloop.process import ServerProcess


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "labelstudio: runs the real Label Studio (own venv via scripts/labelstudio_env; CI runs it)"
    )


@pytest.fixture(scope="session")
def label_studio_install() -> tuple[Path, Path]:
    """The label-studio executable and the set-up database, made once (scripts/labelstudio_env)."""
    return ensure_label_studio()


@pytest.fixture(scope="session")
def label_studio_process(label_studio_install: tuple[Path, Path],
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioProcess]:
    """A running Label Studio on a fresh copy of the set-up database, for the session."""
    executable, base = label_studio_install
    process = LabelStudioProcess(executable, base, tmp_path_factory.mktemp("label-studio")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def label_studio(label_studio_process: LabelStudioProcess) -> Iterator[LabelStudio]:
    """A client for that Label Studio's API, as its first user (``labelstudio:1``)."""
    with LabelStudio(label_studio_process.url, TOKEN) as api:
        yield api


@pytest.fixture(scope="session")
def second_annotator_token(label_studio_process: LabelStudioProcess) -> str:
    """A second Label Studio user in the same organization (``labelstudio:2``), made once: its API token."""
    email = "second@alloop.local"
    with LabelStudio(label_studio_process.url, TOKEN) as first:
        user = first.request("POST", "/api/users/", json={"email": email, "username": "second",
                                                         "password": "second-password-123"})
        organization = first.request("GET", "/api/current-user/whoami")["active_organization"]
        first.request("PATCH", f"/api/users/{user['id']}/", json={"active_organization": organization})
    return user_token(label_studio_process, email)


@pytest.fixture
def second_annotator(label_studio_process: LabelStudioProcess, second_annotator_token: str) -> Iterator[LabelStudio]:
    """The second Label Studio user, as a client of its own."""
    with LabelStudio(label_studio_process.url, second_annotator_token) as api:
        yield api


@pytest.fixture
def label_studio_log(label_studio_process: LabelStudioProcess) -> Callable[[], str]:
    """Read what Label Studio has logged since this test began (the log is the session's)."""
    start = label_studio_process.log.stat().st_size
    return lambda: label_studio_process.log.read_bytes()[start:].decode(errors="replace")


@pytest.fixture
def alloop_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "alloop").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alloop(alloop_server: ServerProcess) -> Iterator[Client]:
    with Client(alloop_server.url) as client:
        yield client
