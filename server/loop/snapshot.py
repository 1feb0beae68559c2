"""What a round works on: the labeled set, the unlabeled pool and the eval split, read consistently.

A round reads them whole the first time, then only what changed: the store counts every change to
a project's labels (``pool_counts.changes``, schema v13) and to its items (an import, vectors for
embedded texts: :func:`alloop.store.items.items_changed`, in the same write). So when the label and
item changes since the last read are exactly the labels added, the new labels are read alone (by id,
which only grows) and taken out of the pool; anything else (a label deleted or relabeled, new items,
another project under the same id) reads everything again. The feature file's row count is no
signal of its own: an import writes its rows before its items commit. At
batch size 1 a full read was most of a simulated round's cost beside the model; at 100k items it
is tens of milliseconds a round.

Arrays handed out are never changed afterwards: an update builds new ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from alloop.models import input_kind
from alloop.store.db import Store
from alloop.store.items import feature_file
from alloop.store.labels import LABELED_ROWS
from alloop.store.projects import Project, get_project

__all__ = ["Snapshot", "forget_snapshots", "take_snapshot"]


@dataclass
class Snapshot:
    """What a round works on, read in one consistent transaction."""

    project: Project
    X: np.ndarray  # memory-mapped (rows, d)
    labeled_rows: np.ndarray
    labeled_y: np.ndarray
    pool_idx: np.ndarray  # unlabeled pool items
    pool_rows: np.ndarray
    eval_rows: np.ndarray
    eval_y: np.ndarray
    texts: dict[int, str] | None = None  # by feature row, for models that read text
    pool_costs: np.ndarray | None = None  # (len(pool_idx),) labeling costs, 1 where an item has none
    n_labeled: int = 0  # the project's labels when the snapshot was taken (a ranking's age counts from here)
    version: int = 0  # the newest model version when the snapshot was taken (0 before the first)


@dataclass(frozen=True)
class _Read:
    """A snapshot and what it was read at: the project's identity and its label and item changes."""

    identity: tuple[float, tuple[str, ...], bool]  # created_at, label names, reads text
    changes: int
    labeled: int
    last_label_id: int
    snap: Snapshot


_CACHE_SIZE = 64
_reads: OrderedDict[tuple[str, int], _Read] = OrderedDict()
_lock = threading.Lock()


# A project's counters in one statement: label changes, labeled pool items, newest model version,
# newest label id (what the next read starts after).
_STATE = """
SELECT (SELECT changes FROM pool_counts WHERE project_id = :p), (SELECT labeled FROM pool_counts WHERE project_id = :p),
       (SELECT MAX(version) FROM model_versions WHERE project_id = :p), (SELECT MAX(id) FROM labels WHERE project_id = :p)
"""


def forget_snapshots() -> None:
    """Drop every remembered read (the next round of each project reads everything)."""
    with _lock:
        _reads.clear()


def _with(snap: Snapshot, **changes: Any) -> Snapshot:
    """A copy of ``snap`` with ``changes`` (``dataclasses.replace`` costs 15 us, a tenth of a cached read)."""
    new = copy.copy(snap)
    new.__dict__.update(changes)
    return new


def _tuples(conn: Any, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples: ``sqlite3.Row`` objects cost about a microsecond a row, and a
    round reads the whole pool."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, args).fetchall()


def _ints(values: list[Any]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _text_model(project: Project) -> bool:
    """Whether the project's model reads raw text rather than vectors."""
    return project.task == "spans" or input_kind(project.model) == "text"  # spans: a tagger reads the text


def _texts(conn: Any, project: Project) -> dict[int, str]:
    rows = conn.execute("SELECT row, text FROM items WHERE project_id = ? AND row IS NOT NULL", (project.id,))
    return {r[0]: r[1] for r in rows}


def _targets(project: Project, stored: list[str]) -> np.ndarray:
    """The stored answers as the model's targets: (n,) label positions, for a multilabel project an (n, L)
    0/1 matrix (issue 20: :func:`alloop.tasks.multilabel.target_matrix`), for a spans project the answers."""
    if project.task == "multilabel":
        from alloop.tasks.multilabel import target_matrix

        return target_matrix(project.labels, stored)
    if project.task == "spans":  # the stored answers themselves (JSON strings, alloop.tasks.spans)
        return np.asarray(stored, dtype=object)
    position = {label: i for i, label in enumerate(project.labels)}
    return _ints([position[label] for label in stored])


def _full(conn: Any, project: Project, X: np.ndarray, labeled_count: int) -> Snapshot:
    labeled = _tuples(conn, LABELED_ROWS, (project.id,))
    # items.labeled is kept by triggers on labels (schema v8), exactly as NOT EXISTS would say
    pool = _tuples(
        conn,
        "SELECT idx, row, cost FROM items WHERE project_id = ? AND split = 'pool' AND labeled = 0 "
        "AND row IS NOT NULL ORDER BY row",
        (project.id,),
    )
    ev = _tuples(
        conn,
        "SELECT row, gold FROM items WHERE project_id = ? AND split = 'eval' AND row IS NOT NULL ORDER BY row",
        (project.id,),
    )
    return Snapshot(
        project=project,
        X=X,
        labeled_rows=_ints([r[1] for r in labeled]),
        labeled_y=_targets(project, [r[2] for r in labeled]),
        pool_idx=_ints([r[0] for r in pool]),
        pool_rows=_ints([r[1] for r in pool]),
        eval_rows=_ints([r[0] for r in ev]),
        eval_y=_targets(project, [r[1] for r in ev]),
        texts=_texts(conn, project) if _text_model(project) else None,
        pool_costs=np.asarray([1.0 if r[2] is None else r[2] for r in pool], dtype=np.float64),
        n_labeled=labeled_count,
    )


def _without(pool_idx: np.ndarray, taken: list[int]) -> np.ndarray:
    """Mask of the pool items not in ``taken``: one comparison per item taken while they are few (a
    batch; ``np.isin`` costs 14 us for one), ``np.isin`` past that."""
    if len(taken) > 16:
        return ~np.isin(pool_idx, _ints(taken))
    keep = np.ones(pool_idx.size, dtype=bool)
    for idx in taken:
        keep &= pool_idx != idx
    return keep


def _added(conn: Any, read: _Read, project: Project, X: np.ndarray, labeled_count: int) -> Snapshot | None:
    """``read``'s snapshot with the labels added since; None when they are not all the change."""
    new = _tuples(
        conn,
        "SELECT i.idx, i.row, b.label FROM labels b JOIN items i ON i.idx = b.item_idx "
        "WHERE b.project_id = ? AND b.id > ? ORDER BY b.id",
        (project.id, read.last_label_id),
    )
    if len(new) != labeled_count - read.labeled or any(r[1] is None for r in new):
        return None  # ids reused, or a label on an item without its vector: read everything
    old = read.snap
    keep = _without(old.pool_idx, [r[0] for r in new])
    return _with(
        old,
        project=project,
        X=X,
        labeled_rows=np.concatenate([old.labeled_rows, _ints([r[1] for r in new])]),
        labeled_y=np.concatenate([old.labeled_y, _targets(project, [r[2] for r in new])]),
        pool_idx=old.pool_idx[keep],
        pool_rows=old.pool_rows[keep],
        pool_costs=None if old.pool_costs is None else old.pool_costs[keep],
        n_labeled=labeled_count,
    )


def take_snapshot(store: Store, project_id: int) -> Snapshot | None:
    """Read the labeled set, the unlabeled pool and the eval split; None before any features.

    Only the labels added since this process last read the project are read, when they are all
    that changed (see the module docstring).
    """
    key = (store.url or str(store.path), project_id)
    with store.read() as conn:
        project = get_project(conn, project_id)
        if project.n_features is None:
            return None  # no features before the first import
        changes, labeled_count, version, last = (int(v or 0) for v in conn.execute(_STATE, {"p": project_id}).fetchone())
        identity = (project.created_at, tuple(project.labels), _text_model(project))
        with _lock:
            read = _reads.get(key)
        snap = None
        # Labels alone changed since the last read: the same items, so the same feature rows (the map
        # it holds covers every item with a vector; opening the file again cost a tenth of a batch-1 round).
        if read is not None and read.identity == identity and changes - read.changes == labeled_count - read.labeled >= 0:
            if changes == read.changes:
                snap = _with(read.snap, project=project)
            else:
                snap = _added(conn, read, project, read.snap.X, labeled_count)
        if snap is None:
            snap = _full(conn, project, feature_file(store, project).matrix(), labeled_count)
    snap.version = version  # a new object in every branch above: the cached one is never changed
    with _lock:
        _reads[key] = _Read(identity, changes, labeled_count, last, snap)
        _reads.move_to_end(key)
        while len(_reads) > _CACHE_SIZE:
            _reads.popitem(last=False)
    return snap
