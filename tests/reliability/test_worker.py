"""Training isolation: rounds run in a separate worker process that can die without harm."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow


def workers_of(pid: int) -> list[int]:
    """Pids of the multiprocessing workers a server process started (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def wait_until(predicate, timeout=120.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def test_killing_the_worker_mid_training_keeps_serving_and_retrains(tmp_path):
    X, y = load_digits(return_X_y=True)
    server = ServerProcess(tmp_path / "data").start()
    try:
        with Client(server.url) as client:
            pid = client.create_project(
                name="slow", labels=[str(d) for d in range(10)], retrain_every=20, dedup="off",
                model={"name": "random_forest", "params": {"n_estimators": 3000, "n_jobs": 1}},
            )["id"]
            client.add_items(pid, [{"id": str(i), "features": X[i].tolist()} for i in range(600)])
            wait_until(lambda: client.project(pid)["ranking"])  # cold start done in the worker
            batch = client.next(pid, "a", 20)["items"]
            client.label(pid, [{"item_id": it["id"], "label": str(y[int(it["id"])])} for it in batch])
            wait_until(lambda: client.project(pid)["activity"] == "training")
            [worker] = workers_of(server.proc.pid)
            os.kill(worker, signal.SIGKILL)
            # serving never depended on the worker
            assert len(client.next(pid, "b", 5)["items"]) == 5
            status = wait_until(lambda: (s := client.project(pid))["model_version"] and s, timeout=300)
            assert status["model_version"] == 1 and status["labeled"] == 20
            assert worker not in workers_of(server.proc.pid)
    finally:
        server.stop()


def test_the_worker_does_not_outlive_a_killed_server(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    workers = wait_until(lambda: workers_of(server.proc.pid))
    server.kill9()
    wait_until(lambda: not any(alive(w) for w in workers), timeout=30)


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
