"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests and benchmarks (Debian's packages).

``PostgresCluster().start()`` runs ``initdb`` into a new folder, starts ``postgres`` on a free port
with no fsync (nothing need survive the test run), and ``stop()`` stops it by its process id and
removes the folder. As root, the cluster runs as the ``postgres`` user (``initdb`` refuses root).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

__all__ = ["PostgresCluster", "postgres_bin", "INSTALL_HINT"]

INSTALL_HINT = "PostgreSQL is not installed: apt-get install postgresql (CI's .ci/run does)"


def postgres_bin() -> Path | None:
    """The folder holding Debian's ``initdb`` and ``postgres`` (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One ``postgres`` server on loopback with trust authentication for user ``alloop``."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError(INSTALL_HINT)
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="alloop-pg-"))
        self.data = self.root / "data"
        self.process: subprocess.Popen | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://alloop@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://alloop@127.0.0.1:{self.port}/{database}"

    def start(self, max_connections: int = 400) -> PostgresCluster:
        """Start the server (``initdb`` first, unless a stopped cluster's files are kept)."""
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(
                [*self._as_user, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "alloop", "-A", "trust",
                 "--no-sync", "-E", "UTF8", "--locale", "C"],
                check=True, capture_output=True,
            )
        with open(self.root / "postgres.log", "wb") as log:  # the server keeps its own copy of the handle
            self.process = subprocess.Popen(
                [*self._as_user, str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", f"max_connections={max_connections}", "-c", "shared_buffers=64MB"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres did not start: {(self.root / 'postgres.log').read_text()[-2000:]}")
                time.sleep(0.1)

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        with psycopg.connect(self.url_for(database), autocommit=True) as conn:
            conn.execute(sql)

    def stop(self, remove: bool = True) -> None:
        """Stop the server (fast shutdown, by its process id) and remove its folder (``remove``; else
        keep it, for a later :meth:`start` on the same port and data)."""
        if self.process is not None and self.process.poll() is None:
            # runuser passes signals on to postgres; SIGINT is postgres's fast shutdown
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


_SCRATCH = itertools.count()


def scratch_database(url: str) -> str:
    """A new database beside the one ``url`` names, copied from the suite's migrated template
    (``alloop_template``, tests/conftest.py); its URL. For a test that needs several fresh stores."""
    name = f"scratch_{os.getpid()}_{next(_SCRATCH)}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE alloop_template")
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
