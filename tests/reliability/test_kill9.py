"""SIGKILL the server at random moments during label traffic: no acknowledged label may be lost.

Each round: start the server on the same data directory, let annotators label over HTTP,
kill -9 it after a random delay, and check on restart that every label the server
acknowledged is stored and that SQLite's integrity check passes. ALLOOP_KILL_ROUNDS sets
the number of rounds (20 here; scripts/bench_durability.py runs 100).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time

import pytest

from server.client import Client
from server.oracle import Ledger, run_annotators
from server.process import ServerProcess

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("ALLOOP_KILL_ROUNDS", "20"))


def integrity(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_no_acknowledged_label_is_lost_across_kill9_rounds(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    with Client(server.url) as client:
        pid = client.create_project(name="kill9", labels=["a", "b"], retrain_every=25, stabilize=None)["id"]
        client.add_items(pid, [{"id": f"i{k}", "features": [k % 7, k % 11, k % 13]} for k in range(6000)])
    gold = {f"i{k}": "ab"[k % 2] for k in range(6000)}
    ledger = Ledger()
    rng = random.Random(0)
    try:
        for round_ in range(ROUNDS):
            traffic = threading.Thread(target=run_annotators, args=(server.url, pid, gold, ledger),
                                       kwargs={"annotators": 4, "n": 5})
            traffic.start()
            time.sleep(rng.uniform(0.2, 1.0))
            server.kill9()
            traffic.join(60)
            assert integrity(tmp_path / "data" / "alloop.db") == "ok", f"round {round_}"
            server.start()
            with Client(server.url) as client:
                stored = {row["item_id"]: row["label"] for row in client.export(pid)}
            lost = {k: v for k, v in ledger.acknowledged.items() if stored.get(k) != v}
            assert not lost, f"round {round_}: {len(lost)} acknowledged labels lost"
        assert len(ledger.acknowledged) > ROUNDS  # traffic really flowed
        print(f"\nkill -9: {ROUNDS} rounds, {len(ledger.acknowledged)} acknowledged labels, 0 lost")
    finally:
        server.stop()
