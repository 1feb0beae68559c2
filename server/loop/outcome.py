"""What a round hands back: its summary and the one write that records it.

The record functions live here, not beside the training code: the server process unpickles
``apply`` to run it, which imports the function's module. Importing ``server.loop.training``
there pulled in scikit-learn, scipy and pandas (2 s under the GIL, the event loop stalled)
and doubled the heap the garbage collector walks.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.loop.stopping import stop_reason
from server.store.items import has_unlabeled, labeled_count
from server.store.projects import get_project, stop_project
from server.store.rounds import agreements, record_round, replace_queue

__all__ = ["RoundWrite", "record_cold_start", "record_training"]


@dataclass
class RoundWrite:
    """What a round computed, and the one write that records it.

    Rounds compute wherever they run (the worker process by default) and never write the
    database there: ``apply`` is a picklable callable (a partial of a module-level function)
    that the server's own store runs as one transaction, queued with the requests' writes.
    A second writer process would otherwise starve behind the request traffic's commits.
    """

    summary: dict[str, Any]
    apply: Callable[[sqlite3.Connection], Any] | None = None  # the connection comes as the last argument


def record_training(
    project_id: int, fields: dict[str, Any], ranked: np.ndarray, scores: np.ndarray, strategy: str,
    conn: sqlite3.Connection,
) -> int:
    """Record a trained version, swap in its ranking and decide whether to stop; returns the version."""
    recorded = record_round(conn, project_id, fields)
    replace_queue(conn, project_id, ranked, scores, model_version=recorded, strategy=strategy, now=time.time())
    current = get_project(conn, project_id)
    if current.state == "running":
        window = (current.stabilize or {}).get("rounds", 1)
        # the stop rules read only these two counts; counting the whole pool (6 ms at 60k items)
        # would hold up every request write queued behind this one
        seen = {"labeled": labeled_count(conn, project_id), "unlabeled": int(has_unlabeled(conn, project_id))}
        reason = stop_reason(current, seen, fields["metrics"], agreements(conn, project_id, window))
        if reason:
            stop_project(conn, project_id, reason)
    return recorded


def record_cold_start(project_id: int, order: np.ndarray, strategy: str, conn: sqlite3.Connection) -> None:
    """Swap in the cold-start ranking."""
    replace_queue(conn, project_id, order, None, model_version=None, strategy=strategy, now=time.time())
