"""Overlap: with ``labels_per_item`` k > 1 each item gets k votes, then its majority label.

Every answer is a row of ``votes`` (one per item and annotator). ``tallies`` holds the items
that have some votes but no final label yet. At the k-th vote the item's final label is written
to ``labels`` like any other label (so training, the budget and stopping see items, not votes),
with its ``agreement``: the share of the votes that equal the majority label.

Ties are broken by the earliest vote: among the labels with the most votes, the one that was
voted first wins (with k = 2 and a disagreement, the first annotator's label, agreement 0.5).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from alloop.quality.duplicates import propagate
from alloop.schemas import LabelIn
from alloop.store.budget import charge, left, resume_if_room
from alloop.store.projects import Project, get_project
from alloop.store.rounds import shown

__all__ = [
    "MAJORITY", "annotator_agreement", "cast_votes", "change_vote", "decide_ready", "has_vote", "majority",
    "vote_summary", "votes_by_item", "withdraw_vote",
]

MAJORITY = "majority"  # the ``annotator`` of a final label decided by votes


def majority(labels: Sequence[str]) -> tuple[str, float]:
    """The most frequent label (ties: the one voted first) and its share of the votes.

    ``labels`` are in voting order and not empty.
    """
    count: dict[str, int] = {}
    for label in labels:
        count[label] = count.get(label, 0) + 1
    best = max(count.values())
    winner = next(label for label in labels if count[label] == best)
    return winner, best / len(labels)


def _decide(conn: sqlite3.Connection, project_id: int, idx: int, now: float) -> None:
    """Write the item's final label from its votes; it leaves the tallies, leases and ranking."""
    votes = conn.execute(
        "SELECT label, model_version, score, strategy, batch_id FROM votes WHERE item_idx = ? ORDER BY id", (idx,)
    ).fetchall()
    label, agreement = majority([v["label"] for v in votes])
    first = votes[0]  # provenance: the ranking that first served the item
    conn.execute(
        "INSERT INTO labels (project_id, item_idx, label, annotator, created_at, model_version, score, strategy, "
        "batch_id, agreement) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (project_id, idx, label, MAJORITY, now, first["model_version"], first["score"], first["strategy"],
         first["batch_id"], agreement),
    )
    conn.execute("DELETE FROM tallies WHERE item_idx = ?", (idx,))
    conn.execute("DELETE FROM leases WHERE item_idx = ?", (idx,))
    conn.execute("DELETE FROM queue WHERE project_id = ? AND item_idx = ?", (project_id, idx))
    propagate(conn, get_project(conn, project_id), idx, label, MAJORITY, now)


def _lease(conn: sqlite3.Connection, idx: int, annotator: str) -> tuple[Any, ...]:
    """Provenance for a vote: the annotator's own lease, else any lease on the item, else what a
    linked labeling tool was shown, else nothing."""
    row = conn.execute(
        "SELECT model_version, score, strategy, batch_id FROM leases WHERE item_idx = ? "
        "ORDER BY annotator = ? DESC, expires_at DESC LIMIT 1",
        (idx, annotator),
    ).fetchone() or shown(conn, idx)
    return tuple(row) if row else (None,) * 4


def _open_items(conn: sqlite3.Connection, project_id: int) -> int:
    return conn.execute("SELECT COUNT(*) FROM tallies WHERE project_id = ?", (project_id,)).fetchone()[0]


def _started(conn: sqlite3.Connection, idx: int, now: float) -> tuple[int, bool]:
    """The item's votes so far, and whether it is started (some votes or a live lease)."""
    tally = conn.execute("SELECT votes FROM tallies WHERE item_idx = ?", (idx,)).fetchone()
    if tally is not None:
        return tally[0], True
    leased = conn.execute("SELECT 1 FROM leases WHERE item_idx = ? AND expires_at > ? LIMIT 1", (idx, now)).fetchone()
    return 0, leased is not None


def _vote(conn: sqlite3.Connection, project: Project, idx: int, entry: LabelIn, votes: int, now: float) -> bool:
    """Record one vote (the item has ``votes`` before it); True if it decided the item."""
    conn.execute(
        "INSERT INTO votes (project_id, item_idx, annotator, label, created_at, model_version, score, strategy, "
        "batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (project.id, idx, entry.annotator, entry.label, now, *_lease(conn, idx, entry.annotator)),
    )
    conn.execute("DELETE FROM leases WHERE item_idx = ? AND annotator = ?", (idx, entry.annotator))
    if votes + 1 >= project.labels_per_item:
        _decide(conn, project.id, idx, now)
        return True
    conn.execute(
        "INSERT INTO tallies (item_idx, project_id, votes) VALUES (?, ?, 1) "
        "ON CONFLICT (item_idx) DO UPDATE SET votes = tallies.votes + 1",
        (idx, project.id),
    )
    return False


def cast_votes(
    conn: sqlite3.Connection, project: Project, labels: Sequence[LabelIn], items: dict[str, dict[str, Any]], now: float
) -> dict[str, Any]:
    """Record validated answers as votes; ``decided`` counts the items that got their final label.

    A vote on a decided item, or a second vote by the same annotator, is a duplicate. A started
    item (some votes, or leased by /next) already holds its share of the budget: a vote on it is
    always taken, while a vote that would start an item is rejected once its cost (1 in items)
    no longer fits beside the decided items and the started ones.
    """
    room = left(conn, project, now)  # started items are held already
    accepted, duplicates, decided, rejected = 0, 0, 0, []
    for entry in labels:
        item = items[str(entry.item_id)]
        idx = item["idx"]
        voted = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM labels WHERE item_idx = ?) "
            "OR EXISTS (SELECT 1 FROM votes WHERE item_idx = ? AND annotator = ?)",
            (idx, idx, entry.annotator),
        ).fetchone()[0]
        if voted:
            duplicates += 1
            continue
        votes, started = _started(conn, idx, now)
        if not started:
            fits, room = charge(project, room, item["cost"])
            if not fits:
                rejected.append({"item_id": entry.item_id, "reason": "budget_exhausted"})
                continue
        decided += _vote(conn, project, idx, entry, votes, now)
        accepted += 1
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "decided": decided}


def decide_ready(conn: sqlite3.Connection, project: Project, now: float) -> int:
    """Decide every open item that already has ``labels_per_item`` votes (after k was lowered)."""
    ready = [r[0] for r in conn.execute(
        "SELECT item_idx FROM tallies WHERE project_id = ? AND votes >= ?", (project.id, project.labels_per_item)
    )]
    for idx in ready:
        _decide(conn, project.id, idx, now)
    return len(ready)


def _labels_of(conn: sqlite3.Connection, idx: int) -> list[str]:
    return [row[0] for row in conn.execute("SELECT label FROM votes WHERE item_idx = ? ORDER BY id", (idx,))]


def _redecide(conn: sqlite3.Connection, idx: int) -> None:
    """Recompute a decided item's majority label and agreement from its votes as they are now."""
    label, agreement = majority(_labels_of(conn, idx))
    conn.execute(
        "UPDATE labels SET label = ?, agreement = ? WHERE item_idx = ? AND annotator = ?",
        (label, agreement, idx, MAJORITY),
    )


def has_vote(conn: sqlite3.Connection, idx: int, annotator: str) -> bool:
    """Whether ``annotator`` voted on the item."""
    row = conn.execute("SELECT 1 FROM votes WHERE item_idx = ? AND annotator = ?", (idx, annotator)).fetchone()
    return row is not None


def change_vote(conn: sqlite3.Connection, idx: int, annotator: str, label: str) -> bool:
    """An annotator changed their answer; a decided item's final label and agreement follow.

    Returns whether the vote changed (False when it already said ``label`` or never existed).
    """
    changed = conn.execute(
        "UPDATE votes SET label = ? WHERE item_idx = ? AND annotator = ? AND label != ?", (label, idx, annotator, label)
    ).rowcount
    if changed:
        _redecide(conn, idx)
    return changed > 0


def withdraw_vote(conn: sqlite3.Connection, project: Project, idx: int, annotator: str) -> bool:
    """An annotator took their answer back; returns whether there was one.

    An undecided item just has one vote less. A decided item left with fewer than
    ``labels_per_item`` votes loses its final label and is started again, so the next
    annotator who never saw it completes it (and a campaign stopped by its budget or pool
    resumes); one that still has enough votes (k was lowered) is decided again from the rest.
    """
    if not conn.execute("DELETE FROM votes WHERE item_idx = ? AND annotator = ?", (idx, annotator)).rowcount:
        return False
    rest = len(_labels_of(conn, idx))
    decided = conn.execute("SELECT annotator FROM labels WHERE item_idx = ?", (idx,)).fetchone()
    if decided is not None:
        if decided[0] != MAJORITY:  # a label given directly, not decided by these votes
            return True
        if rest >= project.labels_per_item:
            _redecide(conn, idx)
            return True
        conn.execute("DELETE FROM labels WHERE item_idx = ?", (idx,))  # the triggers give back its budget
        resume_if_room(conn, project)
    if rest:
        conn.execute(
            "INSERT INTO tallies (item_idx, project_id, votes) VALUES (?, ?, ?) "
            "ON CONFLICT (item_idx) DO UPDATE SET votes = excluded.votes",
            (idx, project.id, rest),
        )
    else:
        conn.execute("DELETE FROM tallies WHERE item_idx = ?", (idx,))
    return True


def votes_by_item(conn: sqlite3.Connection, project_id: int) -> dict[int, list[dict[str, Any]]]:
    """Every vote of the project, grouped by item, in voting order."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(
        "SELECT item_idx, annotator, label, created_at FROM votes WHERE project_id = ? ORDER BY id", (project_id,)
    ):
        grouped.setdefault(row[0], []).append({"annotator": row[1], "label": row[2], "labeled_at": row[3]})
    return grouped


def annotator_agreement(conn: sqlite3.Connection, project_id: int) -> dict[str, dict[str, Any]]:
    """Per annotator: votes on decided items and the share that equal the final label."""
    rows = conn.execute(
        "SELECT v.annotator, COUNT(*), SUM(CASE WHEN v.label = b.label THEN 1 ELSE 0 END) FROM votes v JOIN labels b ON b.item_idx = v.item_idx "
        "WHERE v.project_id = ? GROUP BY v.annotator ORDER BY v.annotator",
        (project_id,),
    )
    return {name: {"votes": n, "agreement": same / n} for name, n, same in rows}


def _leases(conn: sqlite3.Connection, project_id: int, now: float) -> dict[str, int]:
    """With overlap: unlabeled items under a live lease, and the live leases on them."""
    items, leases = conn.execute(
        "SELECT COUNT(DISTINCT item_idx), COUNT(*) FROM leases l WHERE l.project_id = ? AND l.expires_at > ? "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = l.item_idx)",
        (project_id, now),
    ).fetchone()
    return {"leased": items, "leases": leases}


def vote_summary(conn: sqlite3.Connection, project: Project, labeled: int, now: float) -> dict[str, Any]:
    """Status fields: votes given, mean agreement of decided items, items with some votes.

    A label given without overlap (k = 1) counts as one vote and has no agreement. With
    overlap, ``leased`` counts items and ``leases`` the annotators' leases on them.
    """
    extra = _leases(conn, project.id, now) if project.labels_per_item > 1 else {}
    cast = conn.execute("SELECT COUNT(*) FROM votes WHERE project_id = ?", (project.id,)).fetchone()[0]
    if not cast:
        return {"votes": labeled, "mean_agreement": None, "partial_items": 0, "annotator_agreement": None, **extra}
    decided, mean = conn.execute(
        "SELECT COUNT(agreement), AVG(agreement) FROM labels WHERE project_id = ?", (project.id,)
    ).fetchone()
    return {
        "votes": cast + labeled - decided,
        "mean_agreement": mean,
        "partial_items": _open_items(conn, project.id),
        "annotator_agreement": annotator_agreement(conn, project.id),
        **extra,
    }
