"""Kill -9 rounds: SIGKILL the server at random moments under label traffic, check nothing was lost.

Shared by ``tests/reliability/test_kill9.py`` (20 rounds in CI) and
``scripts/bench_durability.py`` (100 rounds). Each round starts the server on the same data
directory, lets annotators label over HTTP, kills the server after a random delay, runs
SQLite's integrity check on the files it left, restarts it, and compares the export with
every label the server acknowledged before it died.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess

__all__ = ["KillReport", "integrity", "kill_rounds"]


@dataclass
class KillReport:
    """What the rounds found; ``lost`` and ``corrupt_rounds`` must stay empty."""

    rounds: int = 0
    acknowledged: int = 0
    lost: dict[int, int] = field(default_factory=dict)  # round -> labels lost
    corrupt_rounds: list[int] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)
    labeled_at_end: int = 0
    server_errors: list[str] = field(default_factory=list)  # tracebacks the servers logged (a 500 or worse)


def _tracebacks(log: str) -> list[str]:
    """Each traceback in a server log, with the lines up to its exception."""
    found = []
    for block in log.split("Traceback (most recent call last):")[1:]:
        lines = block.strip("\n").splitlines()
        end = next((k for k, line in enumerate(lines) if line and not line.startswith(" ")), len(lines) - 1)
        found.append("\n".join(lines[: end + 1]))
    return found


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` on a database file nobody else has open."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def kill_rounds(data_dir: Path, rounds: int, *, seed: int = 0, annotators: int = 4, pool: int | None = None,
                max_delay: float = 1.0, progress=None) -> KillReport:
    """Run ``rounds`` kill -9 rounds against one campaign; ``progress(round, report)`` after each.

    The pool (default: 600 items a round) is large enough that traffic never runs dry.
    """
    pool = pool or max(6000, 600 * rounds)
    server = ServerProcess(data_dir).start()
    with Client(server.url) as client:
        # Durability under traffic is what is measured: /next never waits for a round here (each
        # round kills the worker within a second, before a fresh ranking could land).
        pid = client.create_project(name="kill9", labels=["a", "b"], dedup="off", retrain_every=25, stabilize=None,
                                    budget=None, max_stale_labels=None)["id"]
        client.add_items(pid, [{"id": f"i{k}", "features": [k % 7, k % 11, k % 13]} for k in range(pool)])
    gold = {f"i{k}": "ab"[k % 2] for k in range(pool)}
    ledger = Ledger()
    rng = random.Random(seed)
    report = KillReport()
    try:
        for round_ in range(rounds):
            traffic = threading.Thread(target=run_annotators, args=(server.url, pid, gold, ledger),
                                       kwargs={"annotators": annotators, "n": 5})
            traffic.start()
            time.sleep(rng.uniform(0.2, max_delay))
            server.kill9()
            traffic.join(60)
            # the SQLite file's pages; a PostgreSQL store (ALLOOP_STORE) recovers its own from its WAL
            if not os.environ.get("ALLOOP_STORE") and integrity(data_dir / "alloop.db") != "ok":
                report.corrupt_rounds.append(round_)
            started = time.monotonic()
            server.start()
            report.restart_seconds.append(time.monotonic() - started)
            with Client(server.url) as client:
                stored = {row["item_id"]: row["label"] for row in client.export(pid)}
            lost = sum(1 for k, v in ledger.acknowledged.items() if stored.get(k) != v)
            if lost:
                report.lost[round_] = lost
            report.rounds = round_ + 1
            report.acknowledged = len(ledger.acknowledged)
            report.labeled_at_end = len(stored)
            if progress is not None:
                progress(round_, report)
    finally:
        server.stop()
        if server.log.exists():
            report.server_errors = _tracebacks(server.log.read_text(errors="replace"))
    return report
