"""The background controller: one thread that trains, ranks and stops campaigns.

It never runs on the request path. Routes call :meth:`Controller.wake` after labels
or items arrive; the thread also polls, so work left by a crash is picked up after
a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from concurrent.futures.process import BrokenProcessPool

from alloop.errors import StoreUnavailable
from alloop.loop.embedding import embedding_progress
from alloop.loop.outcome import RoundWrite, record_round_write
from alloop.loop.signals import Changes
from alloop.loop.worker import WorkerPool
from alloop.settings import Settings
from alloop.store.db import Store
from alloop.store.items import has_unlabeled
from alloop.store.projects import Project, get_project, list_projects
from alloop.store.reviews import replaced_count
from alloop.store.serving import COLD_START, pool_open, queue_open

__all__ = ["Controller"]

log = logging.getLogger("alloop.loop")

PASS_GAP_SECONDS = 0.05
"""At most one pass per this many seconds however often the thread is woken."""


class WorkerCrashed(RuntimeError):
    """The worker process died mid-round (killed, out of memory); the round will be retried."""


# What decides a project's next round, in one statement: labeled pool items, the labels the newest model
# saw, and the served ranking (whether there is one, its strategy and the labels it was computed on).
_COUNTERS = """
SELECT (SELECT labeled FROM pool_counts WHERE project_id = :p),
       (SELECT n_labels FROM model_versions WHERE project_id = :p ORDER BY version DESC LIMIT 1),
       EXISTS (SELECT 1 FROM rankings WHERE project_id = :p),
       (SELECT strategy FROM rankings WHERE project_id = :p), (SELECT n_labels FROM rankings WHERE project_id = :p)
"""


def _relabeled(conn: Any, project: Project) -> int:
    """Labels that reviews replaced since the newest model was trained (0 without review): they count
    toward the next retrain like new labels."""
    if project.review is None:
        return 0
    seen = conn.execute("SELECT replaced_seen FROM label_checks WHERE project_id = ?", (project.id,)).fetchone()
    return replaced_count(conn, project.id) - (seen[0] or 0 if seen else 0)


class Controller:
    """Finds the campaigns that need a round and runs them, one at a time."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.errors: dict[int, str] = {}
        self.busy: dict[int, str] = {}  # project id -> 'embed' | 'train' | 'cold_start', while it runs
        self.changes = Changes()  # /next long-polls wait here for a project's next ranking
        self.listeners: list[Callable[[int], None]] = []  # told (project id) after each round, in this thread
        self._started: dict[int, float] = {}  # project id -> when its running round began (monotonic)
        self._seconds: dict[tuple[int, str], float] = {}  # (project id, kind) -> how long its last round took
        self._embedded: dict[int, tuple[int, float]] = {}  # project id -> (items embedded, seconds), this process
        self._failed_at: dict[int, int] = {}
        self._crashes: dict[int, int] = {}
        self.pool = WorkerPool(settings) if settings.worker == "process" else None
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a round is due: skip the coalescing gap
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
        self._urgent.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("loop controller still busy after %.0fs; leaving it to finish", timeout)
                return False
        if self.pool is not None:
            self.pool.reset()
        return True

    def wake(self, urgent: bool = False) -> None:
        """Look for work now rather than at the next poll; ``urgent`` (a round is due): without
        waiting out the gap that coalesces wakes under load."""
        self._wake.set()
        if urgent:
            self._urgent.set()

    def _run(self) -> None:
        ran = 0
        while not self._stop.is_set():
            if not ran:  # after a round, look again at once: labels that came in meanwhile are due
                self._wake.wait(self.settings.worker_poll_seconds)
            self._wake.clear()
            ran = 0
            try:
                ran = self.run_pending()
            except Exception:  # keep the loop alive; the error is logged and shown in status
                log.exception("loop controller pass failed")
            # Every accepted /labels wakes the thread: under load that is hundreds of passes a
            # second, each a handful of queries holding the GIL the event loop needs. Wakes that
            # arrive during the gap are coalesced into the next pass. Right after a round there
            # is no gap: fast annotators spend the fresh ranking within tens of milliseconds, and
            # the next round should read their labels as soon as it is due.
            if not ran:
                self._urgent.wait(PASS_GAP_SECONDS)
            self._urgent.clear()

    def _due(self, project: Project) -> tuple[str | None, int]:
        """('embed' | 'train' | 'cold_start' | None, labels now) for one project.

        Training comes first once it is due, even while new text waits for its vectors (a long
        import must not leave annotators waiting on a stale ranking); before the first ranking the
        pool is embedded whole. A served ranking that runs out early (fast annotators, big
        batches) is replaced at once: by a model round on the labels that arrived since, or, while
        no model ranks, by the cold-start rule over what is left.
        """
        now = time.time()
        with self.store.read() as conn:
            to_embed = project.input == "text" and embedding_progress(conn, project.id)["to_embed"] > 0
            labeled, trained, has_ranking, strategy, ranked_on = conn.execute(_COUNTERS, {"p": project.id}).fetchone()
            labeled, trained = labeled or 0, trained or 0
            ranking = {"strategy": strategy, "n_labels": ranked_on} if has_ranking else None
            failed = self._failed_at.get(project.id)
            relabeled = _relabeled(conn, project)
            train_due = failed != labeled and labeled > 0 and (
                labeled - trained >= project.retrain_every or (project.state == "done" and labeled > trained)
                or relabeled >= project.retrain_every or (project.state == "done" and relabeled > 0)
            )
            if to_embed and not (ranking is not None and train_due):
                return (None if failed == -1 else "embed"), labeled
            if project.n_features is None or failed == labeled:
                return None, labeled  # nothing to work on yet, or failed on exactly these labels: wait for more
            if train_due:  # the common case, decided without the pool and queue probes below
                return "train", labeled
            open_pool = project.state == "running" and has_unlabeled(conn, project.id)
            if open_pool and ranking is None:
                return "cold_start", labeled
            ran_out = (ranking is not None and open_pool and not queue_open(conn, project.id, now)
                       and pool_open(conn, project.id, now))
        if ran_out and labeled > ranking["n_labels"]:
            return "train", labeled
        if ran_out and str(ranking["strategy"]).startswith(COLD_START):
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
            from alloop.loop.rounds import execute_round

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

    def eta(self, project_id: int, kind: str) -> float | None:
        """Seconds until a round of ``kind`` for this project likely ends: the last one's duration,
        less what the running one has taken; None before any round of that kind ran here."""
        last = self._seconds.get((project_id, kind))
        if last is None:
            return None
        started = self._started.get(project_id) if self.busy.get(project_id) == kind else None
        return max(0.0, last - (time.monotonic() - started)) if started is not None else last

    def embedding_rate(self, project_id: int) -> float | None:
        """Items per second this server has embedded for the project so far (None before any)."""
        items, seconds = self._embedded.get(project_id, (0, 0.0))
        return items / seconds if items and seconds > 0 else None

    def _run_round(self, project_id: int, due: str, labeled: int) -> bool:
        if not self.store.postgres:
            return self._run_held(project_id, due, labeled)
        # replicas share the store: one runs the round, and it looks again once it holds the lock
        # (another replica may have run it meanwhile); the others serve the ranking it writes
        with self.store.round_lock(project_id) as held:
            if not held:
                return False
            with self.store.read() as conn:
                project = get_project(conn, project_id)
            due, labeled = self._due(project)
            return bool(due) and self._run_held(project_id, due, labeled)

    def _run_held(self, project_id: int, due: str, labeled: int) -> bool:
        self.busy[project_id] = due
        self._started[project_id] = started = time.monotonic()
        try:
            result = self._execute(project_id, due)
            elapsed = time.monotonic() - started
            self._seconds[(project_id, due)] = elapsed
            if due == "embed" and result.get("ran"):
                items, seconds = self._embedded.get(project_id, (0, 0.0))
                self._embedded[project_id] = (items + int(result.get("embedded", 0)), seconds + elapsed)
            if due == "train" and result.get("ran"):
                log.info("project %s: model v%s on %s labels", project_id, result["version"], result["labels"])
            if due == "embed" and result.get("ran"):
                self._wake.set()  # more may be waiting: come straight back
            self.errors.pop(project_id, None)
            self._failed_at.pop(project_id, None)
            self._crashes.pop(project_id, None)
            return bool(result.get("ran"))
        except (WorkerCrashed, StoreUnavailable) as exc:  # passing trouble: the next pass tries again
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
            self._started.pop(project_id, None)
            self.changes.notify(project_id)
            for listener in self.listeners:
                listener(project_id)

