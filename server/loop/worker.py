"""Where rounds run: in a separate, lower-priority worker process by default.

The server process only schedules and writes; fitting, scoring and embedding happen in a
child process (``nice`` +10) that reads the store and hands back what to write, so a retrain
never holds the server's GIL and ``/next`` keeps its latency. Killing the worker mid-round leaves the
last committed ranking in place; the controller starts a new worker and the next pass
picks the round up again.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from server.loop.embedding import embed_round
from server.loop.training import RoundWrite, cold_start_round, take_snapshot, train_round
from server.settings import Settings
from server.store.db import Store

__all__ = ["execute_round", "WorkerPool"]

_STORES: dict[str, Store] = {}


def execute_round(store: Store, settings: Settings, project_id: int, due: str) -> RoundWrite:
    """Compute one 'embed', 'train' or 'cold_start' round; the caller's store makes its write."""
    if due == "embed":
        done, apply = embed_round(store, project_id, settings.embed_batch_rows)
        return RoundWrite({"ran": done > 0, "embedded": done}, apply)
    snap = take_snapshot(store, project_id)
    if snap is None:
        return RoundWrite({"ran": False})
    if due == "train":
        return train_round(store, settings, snap)
    return cold_start_round(store, settings, snap)


def _in_worker(settings_fields: dict[str, Any], project_id: int, due: str) -> RoundWrite:
    settings = Settings(**settings_fields)
    key = str(settings.data_dir)
    if key not in _STORES:
        _STORES[key] = Store(settings.data_dir, synchronous=settings.synchronous)
    return execute_round(_STORES[key], settings, project_id, due)


def _exit_with_parent(parent: int) -> None:
    """A worker never outlives its server, even one killed with SIGKILL."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _start_worker(server_pid: int) -> None:
    """Imports happen at normal priority (this module pulled in scikit-learn); rounds run at nice +10."""
    threading.Thread(target=_exit_with_parent, args=(server_pid,), daemon=True).start()
    try:
        os.nice(10)
    except OSError:  # not permitted: run at normal priority
        pass


class WorkerPool:
    """One long-lived worker process (spawned: no inherited locks or connections)."""

    def __init__(self, settings: Settings) -> None:
        self.fields = settings.model_dump(exclude={"admin_token"})
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker now, so its imports are done before the first round is due."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            self._pool.submit(os.getpid)

    def run(self, project_id: int, due: str) -> RoundWrite:
        """Compute a round in the worker and wait for it (BrokenProcessPool if the worker dies)."""
        self.start()
        pool = self._pool
        if pool is None:  # start() always sets it; keeps type checkers honest
            raise RuntimeError("worker pool failed to start")
        try:
            return pool.submit(_in_worker, self.fields, project_id, due).result()
        except BaseException:
            self.reset()
            raise

    def pid(self) -> int | None:
        """The worker's process id, once it has started."""
        if self._pool is None:
            return None
        return self._pool.submit(os.getpid).result()

    def reset(self) -> None:
        """Drop a dead or unwanted worker; the next round starts a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
