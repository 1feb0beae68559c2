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

from alloop.loop.outcome import RoundWrite
from alloop.settings import Settings
from alloop.store.db import Store

__all__ = ["WorkerPool"]

_STORES: dict[str, Store] = {}


def _in_worker(settings_fields: dict[str, Any], project_id: int, due: str) -> RoundWrite:
    from alloop.loop.rounds import execute_round  # imported by the worker only (see _start_worker)

    settings = Settings(**settings_fields)
    key = f"{settings.data_dir}|{settings.store}"
    if key not in _STORES:
        _STORES[key] = Store(settings.data_dir, synchronous=settings.synchronous, url=settings.store)
    return execute_round(_STORES[key], settings, project_id, due)


def _exit_with_parent(parent: int) -> None:
    """A worker never outlives its server, even one killed with SIGKILL."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _start_worker(server_pid: int) -> None:
    """Imports happen at normal priority; rounds run at nice +10.

    The server process never imports the training stack (scikit-learn, scipy, strategies,
    models): it only schedules and writes, so it starts in a fraction of the time.
    """
    threading.Thread(target=_exit_with_parent, args=(server_pid,), daemon=True).start()
    import alloop.loop.rounds  # noqa: F401  (scikit-learn, strategies, models: the worker's imports, done now)
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
