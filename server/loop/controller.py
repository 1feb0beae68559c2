"""The background controller: one thread that trains, ranks and stops campaigns.

It never runs on the request path. Routes call :meth:`Controller.wake` after labels
or items arrive; the thread also polls, so work left by a crash is picked up after
a restart.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures.process import BrokenProcessPool

from server.loop.embedding import embedding_progress
from server.loop.outcome import RoundWrite, record_round_write
from server.loop.worker import WorkerPool
from server.settings import Settings
from server.store.db import Store
from server.store.items import has_unlabeled, labeled_count
from server.store.projects import Project, list_projects
from server.store.rounds import has_ranking, latest_version

__all__ = ["Controller"]

log = logging.getLogger("alloop.loop")

PASS_GAP_SECONDS = 0.05
"""At most one pass per this many seconds however often the thread is woken."""


class WorkerCrashed(RuntimeError):
    """The worker process died mid-round (killed, out of memory); the round will be retried."""


class Controller:
    """Finds the campaigns that need a round and runs them, one at a time."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.errors: dict[int, str] = {}
        self.busy: dict[int, str] = {}  # project id -> 'embed' | 'train' | 'cold_start', while it runs
        self._failed_at: dict[int, int] = {}
        self._crashes: dict[int, int] = {}
        self.pool = WorkerPool(settings) if settings.worker == "process" else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread (once; a second start while it runs does nothing)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        if self.pool is not None:
            self.pool.start()
        self._thread = threading.Thread(target=self._run, name="alloop-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> bool:
        """Ask the thread to finish its round and wait for it; False if it is still running."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("loop controller still busy after %.0fs; leaving it to finish", timeout)
                return False
        if self.pool is not None:
            self.pool.reset()
        return True

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.worker_poll_seconds)
            self._wake.clear()
            try:
                self.run_pending()
            except Exception:  # keep the loop alive; the error is logged and shown in status
                log.exception("loop controller pass failed")
            # Every accepted /labels wakes the thread: under load that is hundreds of passes a
            # second, each a handful of queries holding the GIL the event loop needs. Wakes that
            # arrive during the gap are coalesced into the next pass.
            self._stop.wait(PASS_GAP_SECONDS)

    def _due(self, project: Project) -> tuple[str | None, int]:
        """('embed' | 'train' | 'cold_start' | None, labels now) for one project."""
        with self.store.read() as conn:
            if project.input == "text" and embedding_progress(conn, project.id)["to_embed"]:
                return (None if self._failed_at.get(project.id) == -1 else "embed"), 0
        if project.n_features is None:
            return None, 0
        with self.store.read() as conn:
            labeled = labeled_count(conn, project.id)
            open_pool = has_unlabeled(conn, project.id)
            latest = latest_version(conn, project.id)
            ranked = has_ranking(conn, project.id)
        trained = latest["n_labels"] if latest else 0
        if self._failed_at.get(project.id) == labeled:
            return None, labeled  # failed on exactly these labels; wait for more
        if labeled > 0 and (
            labeled - trained >= project.retrain_every or (project.state == "done" and labeled > trained)
        ):
            return "train", labeled
        if project.state == "running" and not ranked and open_pool:
            return "cold_start", labeled
        return None, labeled

    def run_pending(self) -> int:
        """Run every due round once; returns how many ran."""
        with self.store.read() as conn:
            projects = list_projects(conn)
        ran = 0
        for project in projects:
            if self._stop.is_set():
                break
            due, labeled = self._due(project)
            if due and self._run_round(project.id, due, labeled):
                ran += 1
        return ran

    def retry(self, project_id: int) -> None:
        """Forget a failure so the next pass tries again (new items or labels arrived)."""
        self._failed_at.pop(project_id, None)
        self.wake()

    def _execute(self, project_id: int, due: str) -> dict:
        """Compute the round (in the worker, or here), then make its write through the server's store."""
        outcome = self._compute(project_id, due)
        result = dict(outcome.summary)
        if outcome.apply is not None:
            value = record_round_write(self.store, outcome)
            if due == "train":
                result["version"] = value
        return result

    def _compute(self, project_id: int, due: str) -> RoundWrite:
        if self.pool is None:
            # The training stack is imported only where rounds run in this process.
            from server.loop.rounds import execute_round

            return execute_round(self.store, self.settings, project_id, due)
        try:
            return self.pool.run(project_id, due)
        except BrokenProcessPool:
            crashes = self._crashes.get(project_id, 0) + 1
            self._crashes[project_id] = crashes
            if crashes < 3:  # killed from outside: try again on the next pass
                self._wake.set()
                raise WorkerCrashed(f"the worker process died during the {due} round; retrying") from None
            raise

    def _run_round(self, project_id: int, due: str, labeled: int) -> bool:
        self.busy[project_id] = due
        try:
            result = self._execute(project_id, due)
            if due == "train" and result.get("ran"):
                log.info("project %s: model v%s on %s labels", project_id, result["version"], result["labels"])
            if due == "embed" and result.get("ran"):
                self._wake.set()  # more may be waiting: come straight back
            self.errors.pop(project_id, None)
            self._failed_at.pop(project_id, None)
            self._crashes.pop(project_id, None)
            return bool(result.get("ran"))
        except WorkerCrashed as exc:
            log.warning("project %s: %s", project_id, exc)
            self.errors[project_id] = str(exc)
            return False
        except Exception as exc:
            log.exception("project %s: %s round failed", project_id, due)
            self.errors[project_id] = f"{due} failed: {type(exc).__name__}: {exc}"
            self._failed_at[project_id] = -1 if due == "embed" else labeled
            return False
        finally:
            self.busy.pop(project_id, None)
