"""The server's side of a Label Studio link: one background thread that keeps every linked
project in step with its Label Studio project.

For each link it reconciles annotations on start-up and every ``RECONCILE_SECONDS``, pushes each
new ranking as it lands (the controller wakes it after every round), pauses Label Studio when the
campaign stops and resumes it when it runs again. Label Studio being down is not an error of
alloop's: the link records ``last_error``, one line is logged, and the agent tries again with a
growing pause (up to a minute); nothing is lost, since the reconciliation catches up.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from alloop.errors import StoreUnavailable
from alloop.labelstudio.connection import Link, all_links, get_link, note
from alloop.labelstudio.lsapi import LabelStudio, LabelStudioError
from alloop.labelstudio.predict import ModelCache, version_name
from alloop.labelstudio.push import pause, push, resume
from alloop.labelstudio.reconcile import reconcile
from alloop.store.db import Store
from alloop.store.projects import get_project

__all__ = ["RECONCILE_SECONDS", "Agent", "sync_now"]

log = logging.getLogger("alloop.labelstudio")

POLL_SECONDS = 2.0
RECONCILE_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 60.0


def _serving(store: Store, project_id: int) -> tuple[str, str, int]:
    """(state, the served ranking's version name, its generation) of a project."""
    with store.read() as conn:
        state = get_project(conn, project_id).state
        row = conn.execute("SELECT model_version, gen FROM rankings WHERE project_id = ?", (project_id,)).fetchone()
    return state, version_name(row[0] if row else None), (row[1] if row else 0)


def sync_now(store: Store, cache: ModelCache, link: Link, *, reconciling: bool = True) -> dict[str, Any]:
    """One full step for one link: reconcile (optional), pause or resume, push if behind.

    Calls Label Studio only when there is something to do.
    """
    state, name, gen = _serving(store, link.project_id)
    answer: dict[str, Any] = {"reconciled": None, "paused": link.paused, "pushed": None}
    stopping, resuming = state == "done" and not link.paused, state == "running" and link.paused
    pushing = state == "running" and (link.pushed_version, link.pushed_gen) != (name, gen)
    if not (reconciling or stopping or resuming or pushing):
        return answer
    with LabelStudio(link.url, link.token, timeout=30.0) as ls:
        if reconciling:
            answer["reconciled"] = reconcile(store, link, ls)
            state, name, gen = _serving(store, link.project_id)  # labels it added may have stopped the campaign
            stopping, resuming = state == "done" and not link.paused, state == "running" and link.paused
        if stopping:
            pause(store, cache, link, ls)
            answer["paused"] = True
        elif state == "running":
            if resuming:
                resume(store, link, ls)
                answer["paused"] = False
            with store.read() as conn:
                link = get_link(conn, link.project_id) or link
            if (link.pushed_version, link.pushed_gen) != (name, gen):
                answer["pushed"] = push(store, cache, link, ls, time.time())["version"]
    if link.last_error:
        store.transact(lambda conn: note(conn, link.project_id, last_error=None))
    return answer


class Agent:
    """The thread; :meth:`wake` after anything that may need a push (a round, a stop)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = ModelCache()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reconciled: dict[int, float] = {}  # project id -> when this process last reconciled it
        self._retry_at: dict[int, tuple[float, float]] = {}  # project id -> (next try, backoff)
        self._lock = threading.Lock()  # one step per link at a time (the thread, or a sync call)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alloop-labelstudio", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self, project_id: int | None = None) -> None:
        self._wake.set()

    def step(self, link: Link, *, force: bool = False) -> dict[str, Any]:
        """Tend one link now (reconciling when due or ``force``); raises what Label Studio raised."""
        with self._lock:
            due = force or time.monotonic() - self._reconciled.get(link.project_id, -1e9) > RECONCILE_SECONDS
            answer = sync_now(self.store, self.cache, link, reconciling=due)
            if due:
                self._reconciled[link.project_id] = time.monotonic()
            self._retry_at.pop(link.project_id, None)
            return answer

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                with self.store.read() as conn:
                    links = all_links(conn)
            except StoreUnavailable as exc:  # a PostgreSQL store that went away: try again next time
                log.warning("Label Studio links: %s", exc)
                continue
            for link in links:
                if self._stop.is_set():
                    return
                retry, backoff = self._retry_at.get(link.project_id, (0.0, 0.0))
                if time.monotonic() < retry:
                    continue
                try:
                    self.step(link)
                except (httpx.HTTPError, LabelStudioError, OSError) as exc:
                    self._failed(link, exc, backoff)
                except Exception as exc:  # keep tending the other links; the error is shown on the link
                    log.exception("project %s: Label Studio step failed", link.project_id)
                    self._failed(link, exc, backoff)

    def _failed(self, link: Link, exc: Exception, backoff: float) -> None:
        backoff = min(MAX_BACKOFF_SECONDS, max(POLL_SECONDS, 2 * backoff))
        self._retry_at[link.project_id] = (time.monotonic() + backoff, backoff)
        message = f"{type(exc).__name__}: {exc}"[:500]
        if link.last_error != message:
            log.warning("project %s: Label Studio at %s unreachable or refusing (%s); retrying in %.0f s",
                        link.project_id, link.url, message, backoff)
        self.store.transact(lambda conn: note(conn, link.project_id, last_error=message))
