"""The background controller: one thread that trains, ranks and stops campaigns.

It never runs on the request path. Routes call :meth:`Controller.wake` after labels
or items arrive; the thread also polls, so work left by a crash is picked up after
a restart.
"""

from __future__ import annotations

import logging
import threading
import time

from server.loop.embedding import embed_round, embedding_progress
from server.loop.training import cold_start_round, take_snapshot, train_round
from server.settings import Settings
from server.store.db import Store
from server.store.items import counts
from server.store.projects import Project, list_projects
from server.store.rounds import latest_version

__all__ = ["Controller"]

log = logging.getLogger("alloop.loop")


class Controller:
    """Finds the campaigns that need a round and runs them, one at a time."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.errors: dict[int, str] = {}
        self.busy: dict[int, str] = {}  # project id -> 'embed' | 'train' | 'cold_start', while it runs
        self._failed_at: dict[int, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread (once; a second start while it runs does nothing)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
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

    def _due(self, project: Project) -> str | None:
        """'embed', 'train', 'cold_start' or None for one project."""
        with self.store.read() as conn:
            if project.input == "text" and embedding_progress(conn, project.id)["to_embed"]:
                return None if self._failed_at.get(project.id) == -1 else "embed"
        if project.n_features is None:
            return None
        with self.store.read() as conn:
            c = counts(conn, project.id, time.time())
            latest = latest_version(conn, project.id)
            ranked = conn.execute("SELECT 1 FROM rankings WHERE project_id = ?", (project.id,)).fetchone()
        trained = latest["n_labels"] if latest else 0
        if self._failed_at.get(project.id) == c["labeled"]:
            return None  # failed on exactly these labels; wait for more
        if c["labeled"] > 0 and (
            c["labeled"] - trained >= project.retrain_every
            or (project.state == "done" and c["labeled"] > trained)
        ):
            return "train"
        if project.state == "running" and not ranked and c["pool"] > 0:
            return "cold_start"
        return None

    def run_pending(self) -> int:
        """Run every due round once; returns how many ran."""
        with self.store.read() as conn:
            projects = list_projects(conn)
        ran = 0
        for project in projects:
            if self._stop.is_set():
                break
            due = self._due(project)
            if due and self._run_round(project.id, due):
                ran += 1
        return ran

    def _embed(self, project_id: int) -> bool:
        self.busy[project_id] = "embed"
        try:
            done = embed_round(self.store, project_id, self.settings.embed_batch_rows)
            self.errors.pop(project_id, None)
            self._wake.set()  # more may be waiting: come straight back
            return done > 0
        except Exception as exc:
            log.exception("project %s: embedding failed", project_id)
            self.errors[project_id] = f"embed failed: {type(exc).__name__}: {exc}"
            self._failed_at[project_id] = -1  # until new items arrive (see retry)
            return False
        finally:
            self.busy.pop(project_id, None)

    def retry(self, project_id: int) -> None:
        """Forget a failure so the next pass tries again (new items or labels arrived)."""
        self._failed_at.pop(project_id, None)
        self.wake()

    def _run_round(self, project_id: int, due: str) -> bool:
        if due == "embed":
            return self._embed(project_id)
        snap = take_snapshot(self.store, project_id)
        if snap is None:
            return False
        self.busy[project_id] = due
        try:
            if due == "train":
                version = train_round(self.store, self.settings, snap)
                log.info("project %s: model v%s on %s labels", project_id, version, snap.labeled_rows.size)
            else:
                cold_start_round(self.store, self.settings, snap)
            self.errors.pop(project_id, None)
            self._failed_at.pop(project_id, None)
            return True
        except Exception as exc:
            log.exception("project %s: %s round failed", project_id, due)
            self.errors[project_id] = f"{due} failed: {type(exc).__name__}: {exc}"
            self._failed_at[project_id] = int(snap.labeled_rows.size)
            return False
        finally:
            self.busy.pop(project_id, None)
