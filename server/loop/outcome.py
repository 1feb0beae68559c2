"""What a round hands back: its summary and the writes that record it.

The record functions live here, not beside the training code: the server process unpickles
``apply`` to run it, which imports the function's module. Importing ``alloop.loop.training``
there pulled in scikit-learn, scipy and pandas (2 s under the GIL, the event loop stalled)
and doubled the heap the garbage collector walks.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from alloop.loop.stopping import pool_state, stop_reason
from alloop.store.db import Store
from alloop.store.projects import get_project, stop_project
from alloop.store.reviews import record_check
from alloop.store.rounds import (
    CHUNK_ROWS,
    agreements,
    begin_ranking,
    clear_stale,
    has_ranking,
    latest_version,
    record_round,
    stage_ranking,
    switch_ranking,
)

__all__ = ["Ranking", "RoundWrite", "record_cold_start", "record_round_write", "record_training"]


STAGE_IN_FLIGHT = 3
"""Ranking chunks queued to the committer at once."""


@dataclass
class Ranking:
    """A round's new ranking (pool item ids, best first), staged in chunks before the round's write."""

    project_id: int
    item_idx: np.ndarray
    scores: np.ndarray | None


@dataclass
class RoundWrite:
    """What a round computed, and the writes that record it.

    Rounds compute wherever they run (the worker process by default) and never write the
    database there: ``apply`` is a picklable callable (a partial of a module-level function)
    that the server's own store runs as one transaction, queued with the requests' writes.
    A second writer process would otherwise starve behind the request traffic's commits.

    A ``ranking`` goes first, in writes of :data:`CHUNK_ROWS` rows under a new generation that
    nobody serves yet; ``apply`` then switches it in (it is called with ``gen=``), and the old
    generation is cleared in chunks afterwards. Written whole, a 5,000-item ranking held every
    request write for ~20 ms per round, which set /next's p99 while rounds ran back to back.
    """

    summary: dict[str, Any]
    apply: Callable[..., Any] | None = None  # the connection comes as the last positional argument
    ranking: Ranking | None = None


def record_round_write(store: Store, outcome: RoundWrite) -> Any:
    """Make a round's writes through ``store`` (the server's committer); returns what ``apply`` returned."""
    if outcome.apply is None:
        return None
    ranking = outcome.ranking
    if ranking is None:
        return store.transact(outcome.apply)
    pid, idx, scores = ranking.project_id, ranking.item_idx, ranking.scores
    if idx.size < CHUNK_ROWS:  # a short ranking (a simulation's, a small pool's): one write, as one chunk is
        value, cleared = store.transact(functools.partial(_whole, pid, idx, scores, outcome.apply))
        if cleared < CHUNK_ROWS - idx.size:
            return value
        return _clear_old(store, pid, value)
    gen, serving = store.transact(lambda conn: (begin_ranking(conn, pid), has_ranking(conn, pid)))
    if not serving:  # the first ranking: /next serves pool order until it lands, so land it at once
        return store.transact(functools.partial(_first, pid, gen, idx, scores, outcome.apply))
    # A few chunks queued at a time: each group commit carries at most STAGE_IN_FLIGHT of them
    # beside the requests' writes, and staging still moves at the committer's pace, not at one
    # chunk per round trip.
    pending: deque[Future] = deque()
    for start in range(0, idx.size, CHUNK_ROWS):
        rows = idx[start : start + CHUNK_ROWS]
        part = None if scores is None else scores[start : start + CHUNK_ROWS]
        pending.append(store.transact_later(functools.partial(_stage, pid, gen, start, rows, part)))
        if len(pending) >= STAGE_IN_FLIGHT:
            pending.popleft().result()
    for future in pending:
        future.result()
    value = store.transact(functools.partial(outcome.apply, gen=gen))
    return _clear_old(store, pid, value)


def _clear_old(store: Store, pid: int, value: Any) -> Any:
    """Delete the replaced generations, a few chunks at a time, until a chunk comes back empty; returns ``value``."""
    while True:
        batch = [store.transact_later(lambda conn: clear_stale(conn, pid)) for _ in range(STAGE_IN_FLIGHT)]
        if min(future.result() for future in batch) == 0:
            return value


def _whole(pid: int, idx: np.ndarray, scores: np.ndarray | None, apply: Callable[..., Any],
           conn: sqlite3.Connection) -> tuple[Any, int]:
    """Begin, stage, switch in and clear up to a chunk of the old generation, in one write of at most
    :data:`CHUNK_ROWS` rows; (what ``apply`` returned, rows cleared)."""
    gen = begin_ranking(conn, pid)
    stage_ranking(conn, pid, gen, 0, idx, scores)
    value = apply(conn, gen=gen)
    return value, clear_stale(conn, pid, limit=CHUNK_ROWS - idx.size)


def _first(pid: int, gen: int, idx: np.ndarray, scores: np.ndarray | None, apply: Callable[..., Any],
           conn: sqlite3.Connection) -> Any:
    _stage(pid, gen, 0, idx, scores, conn)
    return apply(conn, gen=gen)


def _stage(pid: int, gen: int, start: int, rows: np.ndarray, scores: np.ndarray | None, conn: sqlite3.Connection) -> None:
    stage_ranking(conn, pid, gen, start, rows, scores)


def record_training(
    project_id: int, fields: dict[str, Any], size: int, strategy: str, n_labels: int, conn: sqlite3.Connection, *,
    gen: int, check: dict[str, Any] | None = None,
) -> int:
    """Record a trained version, switch in its staged ranking and decide whether to stop; returns the version.

    ``n_labels`` is how many labels the project had when the round read them (the ranking's age
    is counted from there). ``check``: the round's label check, for a project with review on
    (:func:`alloop.store.reviews.record_check`).
    """
    recorded = record_round(conn, project_id, fields)
    if check is not None:
        record_check(conn, project_id, check)
    switch_ranking(conn, project_id, gen, size=size, model_version=recorded, strategy=strategy, now=time.time(),
                   n_labels=n_labels)
    current = get_project(conn, project_id)
    if current.state == "running":
        # the agreements matter to the stabilization rule alone
        recent = agreements(conn, project_id, current.stabilize.get("rounds", 1)) if current.stabilize else []
        reason = stop_reason(current, pool_state(conn, current), fields["metrics"], recent)
        if reason:
            stop_project(conn, project_id, reason)
    return recorded


def record_cold_start(
    project_id: int, size: int, strategy: str, n_labels: int, conn: sqlite3.Connection, *, gen: int
) -> None:
    """Switch in the staged cold-start ranking (the first one, or more of it while no model ranks)."""
    latest = latest_version(conn, project_id)
    switch_ranking(conn, project_id, gen, size=size, model_version=latest["version"] if latest else None,
                   strategy=strategy, now=time.time(), n_labels=n_labels)
