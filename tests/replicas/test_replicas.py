"""Several alloop replicas on one PostgreSQL store (issue 16): shared leases, one round at a time,
no label lost when a replica dies, clear failures when the database is missing or goes away.

Every test here runs PostgreSQL (Debian's packages: tests/pgserver.py), whatever ``--store`` says.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import psycopg
import pytest
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.loadgen import Behaviour, LoadResult, run_load, violations
from alloop.process import ServerProcess, free_port
from alloop.store import Store
from alloop.store.db import ROUND_LOCK

pytestmark = pytest.mark.slow

LEASE = 2


@pytest.fixture
def database(postgres_cluster, request) -> str:
    """A new, empty database in the session's cluster; its URL."""
    name = f"replicas_{request.node.name.lower()[:40]}_{time.monotonic_ns() % 10**6}"
    name = "".join(c if c.isalnum() else "_" for c in name)
    postgres_cluster.execute(f"CREATE DATABASE {name}")
    yield postgres_cluster.url_for(name)
    postgres_cluster.execute(f"DROP DATABASE {name} WITH (FORCE)")


def replicas(tmp_path, url: str, n: int = 2) -> list[ServerProcess]:
    """``n`` servers on one database and one data folder (the feature files every replica reads)."""
    servers = []
    try:
        for _ in range(n):
            servers.append(ServerProcess(tmp_path / "data", args=["--store", url]).start())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def digits_campaign(url: str, pool: int = 1200) -> int:
    X, y = load_digits(return_X_y=True)
    with Client(url) as client:
        pid = client.create_project(name="replicas", labels=[str(d) for d in range(10)], dedup="off",
                                    lease_seconds=LEASE, retrain_every=40, batch_size=10, stabilize=None,
                                    max_stale_labels=None, model={"name": "logistic_regression"})["id"]
        client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist()} for i in range(pool)])
        client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist(), "label": str(y[i])}
                               for i in range(pool, pool + 300)], "eval")
        client.wait_until_ready(pid)
    return pid


@functools.cache
def _digits_y() -> np.ndarray:
    return load_digits(return_X_y=True)[1]


def truth(item_id: str) -> str:
    return str(_digits_y()[int(item_id[1:])])


def check_versions(url: str, pid: int) -> list[dict]:
    """Rounds ran one at a time: each model version saw more labels than the one before."""
    with Client(url) as client:
        curve = client.metrics(pid)
    labels = [point["labels"] for point in curve]
    assert labels == sorted(set(labels)), labels
    return curve


def test_fifty_annotators_on_two_replicas_never_share_an_item_and_lose_no_label(tmp_path, database):
    a, b = replicas(tmp_path, database)
    try:
        pid = digits_campaign(a.url)
        result = run_load([a.url, b.url], pid, annotators=50, polls=12,
                          behaviour=Behaviour(abandon=0.2, label_of=truth, breaks=0.02, break_seconds=LEASE + 0.5))
        assert result.errors == 0, dict(result.failures)
        assert violations(result, lease_seconds=LEASE) == []
        with Client(b.url) as client:
            rows = client.export(pid)
        stored = {r["item_id"] for r in rows}
        assert len(rows) == len(stored)  # no item labeled twice
        assert set(result.acknowledged) <= stored and len(result.acknowledged) > 300
        regranted = sum(1 for grants in result.grants.values() if len({g[0] for g in grants}) > 1)
        assert regranted > 0  # leases expired and went to someone else, across replicas
        curve = check_versions(a.url, pid)
        assert len(curve) >= 3 and curve[-1]["accuracy"] > 0.8  # the shared loop trained on the shared labels
    finally:
        a.stop()
        b.stop()


def test_a_replica_killed_mid_run_loses_no_label_and_the_other_keeps_serving(tmp_path, database):
    a, b = replicas(tmp_path, database)
    try:
        pid = digits_campaign(a.url)
        killed_at: list[float] = []
        result = LoadResult()
        polls = 24

        def kill_mid_run() -> None:  # a quarter of the polls in, however fast this machine serves them
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with result.lock:
                    if len(result.next_seconds) >= 50 * polls // 4:
                        break
                time.sleep(0.01)
            killed_at.append(time.time())
            a.kill9()

        killer = threading.Thread(target=kill_mid_run)
        killer.start()
        run_load([a.url, b.url], pid, annotators=50, polls=polls, behaviour=Behaviour(abandon=0.1), result=result)
        killer.join()
        assert killed_at and result.errors > 0  # requests to the dead replica failed in transport
        assert violations(result, lease_seconds=LEASE) == []
        served_after = [g for grants in result.grants.values() for g in grants if g[1] > killed_at[0] + 0.5]
        assert len(served_after) > 100  # the other replica kept serving
        with Client(b.url) as client:
            rows = client.export(pid)
        stored = {r["item_id"] for r in rows}
        assert len(rows) == len(stored)
        lost = set(result.acknowledged) - stored
        assert lost == set()  # every acknowledged label is in the shared store
    finally:
        a.stop()
        b.stop()


def test_one_replica_holds_a_projects_round_and_a_dead_one_frees_it(tmp_path, database):
    first, second = Store(tmp_path / "one", url=database), Store(tmp_path / "two", url=database)
    try:
        with first.round_lock(7) as held:
            assert held
            with second.round_lock(7) as other:
                assert not other  # the other replica skips this project's round
            with second.round_lock(8) as other:
                assert other  # another project's round may run beside it
        with second.round_lock(7) as held:
            assert held  # released when the round ended
        # a replica that dies holding the lock (its session ends) frees it
        dying = psycopg.connect(database, autocommit=True)
        dying.execute("SELECT pg_advisory_lock(%s, %s)", (ROUND_LOCK, 9))
        with first.round_lock(9) as held:
            assert not held
        dying.close()  # the server ends that session a moment later, and its locks with it
        deadline = time.monotonic() + 10
        while True:
            with first.round_lock(9) as held:
                if held or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert held
    finally:
        first.close()
        second.close()


def test_a_store_that_does_not_answer_stops_the_start(tmp_path):
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "alloop.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--store", f"postgresql://alloop@127.0.0.1:{free_port()}/nothing"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "the PostgreSQL store is unavailable" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(httpx.ConnectError):  # no half-started server
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
    done = subprocess.run(
        [sys.executable, "-m", "alloop.cli", "serve", "--data-dir", str(tmp_path / "data"),
         "--store", "mysql://root:secret@127.0.0.1/x"], capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "postgresql://" in done.stderr and "secret" not in done.stderr


def test_a_lost_database_answers_503_and_the_replica_recovers(tmp_path):
    from pgserver import PostgresCluster

    cluster = PostgresCluster().start()
    server = None
    try:
        server = ServerProcess(tmp_path / "data", args=["--store", cluster.url]).start()
        with Client(server.url) as client:
            pid = client.create_project(name="lost", labels=["a", "b"], dedup="off", stabilize=None)["id"]
            X = np.random.default_rng(0).normal(size=(50, 4))
            client.add_items(pid, [{"id": f"i{k}", "features": X[k].tolist()} for k in range(50)])
            client.wait_until_ready(pid)
        cluster.stop(remove=False)
        answer = httpx.post(f"{server.url}/projects/{pid}/next", json={"annotator": "a", "n": 2, "wait": 0}, timeout=30)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert "PostgreSQL store is unavailable" in answer.json()["detail"]
        labels = httpx.post(f"{server.url}/projects/{pid}/labels", timeout=30,
                            json={"labels": [{"item_id": "i1", "label": "a", "annotator": "a"}]})
        assert labels.status_code == 503
        cluster.start()
        deadline = time.monotonic() + 30
        while True:  # connections are opened again on the next request
            answer = httpx.post(f"{server.url}/projects/{pid}/next", json={"annotator": "a", "n": 2, "wait": 5},
                                timeout=30)
            if answer.status_code == 200 and answer.json()["items"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 200 and len(answer.json()["items"]) == 2
        item = answer.json()["items"][0]["id"]
        done = httpx.post(f"{server.url}/projects/{pid}/labels", timeout=30,
                          json={"labels": [{"item_id": item, "label": "a", "annotator": "a"}]})
        assert done.status_code == 200 and done.json()["accepted"] == 1
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
