"""Duplicate groups of pool items: exact (same key) and near (cosine at least the project's threshold).

A group's id is the smallest item idx among its members (``items.dup_group``; NULL for an item
with no duplicate). Groups are kept incrementally: exact duplicates are linked when items are
imported, near duplicates once their vectors exist (for vector projects just after the import's
write, outside it: :func:`alloop.store.items.import_items`; in the embedding round's write for text ones), and a new link merges groups (union-find). Eval items
never join groups: an eval item linked to a pool item is leakage (:mod:`alloop.quality.leakage`).

With the project's ``dedup`` setting on (``skip``, the default, or ``propagate``), the unlabeled
members of a group with a labeled member are *skipped*: ``items.labeled = 2``. That takes them
out of the open-pool index, so /next never serves them, the pool counts as exhausted without
them, and they cost no budget. Triggers on ``labels`` (schema v14) keep the mark exact when a
label is written or taken back; :func:`mark_skipped` applies it when groups merge.
``propagate`` also copies a final label to the item's exact duplicates (:func:`propagate`); those
labels record where they came from (``labels.propagated_from``) and cost no budget.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from alloop.quality import leakage
from alloop.quality.similarity import near_pairs, spanning, text_key, vector_key
from alloop.store.projects import Project

__all__ = [
    "DEDUP_MODES", "PROPAGATED", "exact_key", "link_new", "near_links", "apply_links",
    "mark_skipped", "unskip_all", "propagate", "regroup", "summary",
]

DEDUP_MODES = ("skip", "propagate", "off")
PROPAGATED = "propagated"
"""The strategy recorded on a label copied from an exact duplicate."""
_CHUNK = 500
Link = tuple[int, int, float, bool]
"""Two linked items: (idx, idx, cosine similarity, whether they share an exact key)."""


def exact_key(text: str | None, features: Sequence[float] | None) -> str | None:
    """An imported item's exact key: its text's, else its vector's."""
    if text is not None:
        return text_key(text)
    if features is not None:
        return vector_key(np.asarray(features, dtype=np.float32))
    return None


def _rows(conn: sqlite3.Connection, sql: str, ids: Sequence[Any], *args: Any) -> list[sqlite3.Row]:
    """``sql`` (with ``{}`` for the id placeholders) over ``ids`` in chunks."""
    out: list[sqlite3.Row] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        out += conn.execute(sql.format(",".join("?" * len(chunk))), (*args, *chunk)).fetchall()
    return out


def _exact_links(conn: sqlite3.Connection, project_id: int, new_idx: Sequence[int]) -> list[Link]:
    """Links between the new items and every item sharing their exact key."""
    keys = {r[0] for r in _rows(conn, "SELECT exact_key FROM items WHERE exact_key IS NOT NULL AND idx IN ({})",
                                new_idx)}
    members: dict[str, list[int]] = {}
    for r in _rows(conn, "SELECT exact_key, idx FROM items WHERE project_id = ? AND exact_key IN ({})",
                   sorted(keys), project_id):
        members.setdefault(r[0], []).append(r[1])
    links = []
    for same in members.values():
        same.sort()
        links += [(same[0], other, 1.0, True) for other in same[1:]]
    return links


def _representatives(conn: sqlite3.Connection, project_id: int) -> dict[int, tuple[int, tuple[bool, str]]]:
    """One item with a vector per exact key and side (eval or not): row -> (idx, (side, key))."""
    rows = conn.execute(
        "SELECT row, idx, side, key FROM (SELECT row, idx, CASE WHEN split = 'eval' THEN 1 ELSE 0 END AS side, "
        "COALESCE(exact_key, 'i' || idx) AS key, ROW_NUMBER() OVER (PARTITION BY split = 'eval', "
        "COALESCE(exact_key, 'i' || idx) ORDER BY row) AS n FROM items WHERE project_id = ? AND row IS NOT NULL) AS firsts "
        "WHERE n = 1",
        (project_id,),
    ).fetchall()
    return {r[0]: (r[1], (bool(r[2]), r[3])) for r in rows}


def near_links(
    conn: sqlite3.Connection, project_id: int, matrix: np.ndarray, threshold: float,
    new_rows: dict[int, int] | None = None,
) -> list[Link]:
    """Near-duplicate links (idx, idx, cosine, False) of the new items (``row -> idx``; None: every item).

    Items sharing an exact key are searched once, through one representative each (they are
    linked to it already). New rows not yet recorded in the store (an embedding round's) stand
    for their key when no recorded row does.
    """
    found = _representatives(conn, project_id)
    reps = {row: idx for row, (idx, _) in found.items()}
    keys: dict[int, tuple[bool, str]] = {}
    if new_rows is None:
        query = np.fromiter(reps, dtype=np.int64, count=len(reps))
    else:
        seen = {key for _, key in found.values()}
        keys.update({r[0]: (bool(r[1]), r[2] or f"i{r[0]}") for r in _rows(
            conn, "SELECT idx, split = 'eval', exact_key FROM items WHERE idx IN ({})", sorted(new_rows.values()))})
        chosen = []
        for row, idx in sorted(new_rows.items()):
            if row not in reps and keys.get(idx) not in seen:
                reps[row] = idx
                seen.add(keys.get(idx))
            if reps.get(row) == idx:
                chosen.append(row)
        query = np.asarray(chosen, dtype=np.int64)
    base = np.fromiter(reps, dtype=np.int64, count=len(reps))
    base, query = base[base < matrix.shape[0]], query[query < matrix.shape[0]]
    evals = {row for row, (_, (side, _)) in found.items() if side}
    if new_rows is not None:
        evals |= {row for row in query.tolist() if keys.get(reps[row], (False,))[0]}
    is_eval = np.isin(base, np.fromiter(evals, dtype=np.int64, count=len(evals)))
    pool_base, eval_base = base[~is_eval], base[is_eval]
    q_eval = np.isin(query, eval_base)
    links: list[Link] = []
    # pool with pool: only connectivity matters (groups), reduced to one link per item
    tied = [spanning(a, b) for a, b, _ in near_pairs(matrix, query[~q_eval], pool_base, threshold)]
    if tied:
        a, b = spanning(np.concatenate([t[0] for t in tied]), np.concatenate([t[1] for t in tied]))
        links += [(reps[int(x)], reps[int(y)], 0.0, False) for x, y in zip(a, b)]
    # eval with pool, both ways: every pair (leakage reports and drops pool items one by one)
    for q, against in ((query[q_eval], pool_base), (query[~q_eval], eval_base)):
        for a, b, sims in near_pairs(matrix, q, against, threshold):
            links += [(reps[int(x)], reps[int(y)], min(1.0, float(s)), False) for x, y, s in zip(a, b, sims)]
    return links


def _find(parent: dict[int, int], x: int) -> int:
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _merge(conn: sqlite3.Connection, links: Iterable[tuple[int, int]]) -> set[int]:
    """Union the linked pool items with each other's groups; returns the ids of the groups they are in now."""
    parent: dict[int, int] = {}
    items = {x for link in links for x in link}
    if not items:
        return set()
    current = {r[0]: r[1] for r in _rows(conn, "SELECT idx, dup_group FROM items WHERE idx IN ({})", sorted(items))}
    for a, b in links:
        for x in (a, b):
            if current.get(x) is not None:
                parent[_find(parent, x)] = _find(parent, current[x])
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    components: dict[int, set[int]] = {}
    for x in list(parent):
        components.setdefault(_find(parent, x), set()).add(x)
    for nodes in components.values():
        root = min(nodes)  # a group's id is its smallest member (old group ids are members too)
        olds = sorted({current[x] for x in nodes if current.get(x) is not None} - {root})
        _rows(conn, f"UPDATE items SET dup_group = {root} WHERE dup_group IN ({{}})", olds)
        _rows(conn, f"UPDATE items SET dup_group = {root} WHERE idx IN ({{}})", sorted(nodes))
    return set(components)


def mark_skipped(conn: sqlite3.Connection, project: Project, groups: Iterable[int] | None = None) -> int:
    """Skip the unlabeled members of the given groups (None: every group) that have a labeled member."""
    if project.dedup == "off":
        return 0
    where = "dup_group IN ({})" if groups is not None else "project_id = ? AND dup_group IS NOT NULL"
    sql = (
        "UPDATE items SET labeled = 2 WHERE labeled = 0 AND " + where + " AND EXISTS "
        "(SELECT 1 FROM items m WHERE m.dup_group = items.dup_group AND m.labeled = 1)"
    )
    before = conn.total_changes
    if groups is None:
        conn.execute(sql, (project.id,))
    else:
        _rows(conn, sql, sorted(groups))
    # out of the ranking too, as labeling does: /next never scans past them
    conn.execute(
        "DELETE FROM queue WHERE project_id = ? AND item_idx IN (SELECT idx FROM items WHERE project_id = ? "
        "AND labeled = 2)", (project.id, project.id),
    )
    return conn.total_changes - before


def unskip_all(conn: sqlite3.Connection, project_id: int) -> None:
    """Back into the open pool (``dedup`` turned off): nothing is skipped, and groups are no longer
    kept (turning it on again regroups the project)."""
    conn.execute("UPDATE items SET labeled = 0 WHERE project_id = ? AND labeled = 2", (project_id,))
    conn.execute("UPDATE projects SET grouped = 0 WHERE id = ?", (project_id,))


def apply_links(conn: sqlite3.Connection, project: Project, links: Sequence[Link]) -> None:
    """Record links: pool with pool joins groups, eval with pool is leakage, eval with eval is nothing."""
    if not links:
        return
    ids = sorted({x for a, b, _, _ in links for x in (a, b)})
    split = {r[0]: r[1] for r in _rows(conn, "SELECT idx, split FROM items WHERE idx IN ({})", ids)}
    pool = [(a, b) for a, b, _, _ in links if split.get(a) in ("pool", "leaked") and split.get(b) in ("pool", "leaked")]
    leaks = []
    for a, b, sim, exact in links:
        if split.get(a) == "eval" and split.get(b) in ("pool", "leaked"):
            leaks.append((a, b, sim, exact))
        elif split.get(b) == "eval" and split.get(a) in ("pool", "leaked"):
            leaks.append((b, a, sim, exact))
    groups = _merge(conn, pool)
    if groups:
        mark_skipped(conn, project, groups)
    if leaks:
        leakage.record(conn, project, leaks)


def link_new(conn: sqlite3.Connection, project: Project, new_idx: Sequence[int], matrix: np.ndarray | None,
             new_rows: dict[int, int] | None = None) -> None:
    """Group items just imported: exact duplicates now, near ones too where their vectors exist.

    Nothing with ``dedup: off``: the project is left ungrouped (``grouped = 0``) until turned on.
    """
    if project.dedup == "off":
        return
    links = _exact_links(conn, project.id, new_idx)
    if matrix is not None and new_rows and project.dedup_threshold is not None:
        links += near_links(conn, project.id, matrix, project.dedup_threshold, new_rows)
    apply_links(conn, project, links)


def propagate(conn: sqlite3.Connection, project: Project, idx: int, label: str, annotator: str, now: float) -> int:
    """Copy a final label to the unlabeled exact duplicates of ``idx`` (``dedup: propagate``)."""
    if project.dedup != "propagate":
        return 0
    targets = [r[0] for r in conn.execute(
        "SELECT d.idx FROM items s JOIN items d ON d.project_id = s.project_id AND d.exact_key = s.exact_key "
        "WHERE s.idx = ? AND d.idx != s.idx AND d.split = 'pool' AND d.labeled != 1",
        (idx,),
    )]
    conn.executemany(
        "INSERT INTO labels (project_id, item_idx, label, annotator, created_at, strategy, propagated_from) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(project.id, target, label, annotator, now, PROPAGATED, idx) for target in targets],
    )
    conn.executemany("DELETE FROM leases WHERE item_idx = ?", [(t,) for t in targets])
    conn.executemany("DELETE FROM queue WHERE project_id = ? AND item_idx = ?", [(project.id, t) for t in targets])
    return len(targets)


def regroup(conn: sqlite3.Connection, project: Project, matrix: np.ndarray | None) -> None:
    """Every group and leak of the project again, from scratch (a new threshold, an upgraded store)."""
    unskip_all(conn, project.id)
    leakage.restore(conn, project.id)
    conn.execute("UPDATE items SET dup_group = NULL WHERE project_id = ? AND dup_group IS NOT NULL", (project.id,))
    conn.execute("DELETE FROM leaks WHERE project_id = ?", (project.id,))
    missing = conn.execute(
        "SELECT idx, text, row FROM items WHERE project_id = ? AND exact_key IS NULL", (project.id,)
    ).fetchall()
    keys = []
    for r in missing:
        if r["text"] is not None:
            keys.append((text_key(r["text"]), r["idx"]))
        elif matrix is not None and r["row"] is not None and r["row"] < matrix.shape[0]:
            keys.append((vector_key(matrix[r["row"]]), r["idx"]))
    conn.executemany("UPDATE items SET exact_key = ? WHERE idx = ?", keys)
    everyone = [r[0] for r in conn.execute("SELECT idx FROM items WHERE project_id = ?", (project.id,))]
    links = _exact_links(conn, project.id, everyone)
    if matrix is not None and matrix.shape[0] and project.dedup_threshold is not None:
        links += near_links(conn, project.id, matrix, project.dedup_threshold)
    apply_links(conn, project, links)
    conn.execute("UPDATE projects SET grouped = 1, near_row = ? WHERE id = ?",
                 (0 if matrix is None else matrix.shape[0], project.id))


def summary(conn: sqlite3.Connection, project: Project, largest: int = 5) -> dict[str, Any]:
    """Status figures: the setting, groups and grouped items, labels saved by skipping, propagated labels."""
    groups, grouped = conn.execute(
        "SELECT COUNT(DISTINCT dup_group), COUNT(dup_group) FROM items WHERE project_id = ? "
        "AND dup_group IS NOT NULL", (project.id,),
    ).fetchone()
    skipped = conn.execute(
        "SELECT COUNT(*) FROM items WHERE project_id = ? AND labeled = 2", (project.id,)
    ).fetchone()[0]
    propagated = conn.execute("SELECT free FROM pool_counts WHERE project_id = ?", (project.id,)).fetchone()
    top = conn.execute(
        "SELECT g.dup_group AS id, COUNT(*) AS size, SUM(CASE WHEN g.labeled = 1 THEN 1 ELSE 0 END) AS labeled, "
        "(SELECT ext_id FROM items WHERE idx = g.dup_group) AS first FROM items g "
        "WHERE g.project_id = ? AND g.dup_group IS NOT NULL GROUP BY g.dup_group ORDER BY size DESC, id LIMIT ?",
        (project.id, largest),
    ).fetchall()
    return {
        "setting": project.dedup, "threshold": project.dedup_threshold, "grouped": bool(project.grouped),
        "groups": groups, "grouped_items": grouped, "skipped": skipped,
        "propagated": propagated[0] if propagated else 0,
        "largest": [dict(r) for r in top],
    }
