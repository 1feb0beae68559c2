"""Label-error review: suspected wrong labels, served for review, and the reviewers' answers.

After a retrain the loop ranks the labels most likely wrong (:mod:`alloop.quality.label_errors`)
and :func:`record_check` stores them as the project's open ``suspects``. /next gives
``round(share x n)`` of each batch to them (:func:`claim_reviews`), best ranked first, never to
the annotator who gave the label (with overlap: to none who voted on the item). A review is
leased on the suspect row itself, so the pool's leases, holds and staleness counts never see it.

A review answer (:func:`take_reviews`) that agrees confirms the label; one that disagrees
replaces it (``labels.label`` and ``labels.annotator`` become the reviewer's). Either way a row
of ``reviews`` keeps the answer and the label it reviewed (who gave it and when), the item leaves
the queue and is never suspected again. Reviews count against the budget like labels
(:mod:`alloop.store.budget`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from alloop.schemas import LabelIn, ReviewSpec
from alloop.store.budget import charge, left
from alloop.store.projects import Project

__all__ = [
    "REVIEW", "claim_reviews", "record_check", "replaced_count", "review_settings", "review_slots",
    "review_summary", "reviews_by_item", "split_reviews", "take_reviews",
]

REVIEW = "review"
"""The ``strategy`` and ``reason`` of an item /next serves for review."""


def review_settings(project: Project) -> ReviewSpec | None:
    """The project's review settings with every default filled; None when reviews are off."""
    return None if project.review is None else ReviewSpec(**project.review)


def review_slots(project: Project, n: int) -> int:
    """How many of a batch of ``n`` go to review items: ``round(share x n)`` (0 when reviews are off)."""
    spec = review_settings(project)
    return 0 if spec is None else min(n, int(spec.share * n + 0.5))


def _eligible(alias: str) -> str:
    """SQL: the annotator ``:who`` may review suspect ``alias``: not its labeler, no vote on it."""
    return (
        f"COALESCE({alias}.annotator, '') != :who "
        f"AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.item_idx = {alias}.item_idx AND v.annotator = :who)"
    )


def claim_reviews(
    conn: sqlite3.Connection, project: Project, annotator: str, now: float, expires: float, k: int
) -> list[tuple[int, float, int | None]]:
    """Lease up to ``k`` review items to ``annotator``: those it holds, then the best ranked free ones
    it may review, while they fit in the budget. Returns (item, suspicion score, model version)."""
    if k <= 0:
        return []
    args = {"pid": project.id, "who": annotator, "now": now, "k": k}
    held = conn.execute(
        "SELECT item_idx, score, model_version FROM suspects WHERE project_id = :pid AND reviewer = :who "
        "AND expires_at > :now ORDER BY rank LIMIT :k", args,
    ).fetchall()
    free = conn.execute(
        "SELECT s.item_idx, s.score, s.model_version, COALESCE(i.cost, 1.0) FROM suspects s "
        "JOIN items i ON i.idx = s.item_idx WHERE s.project_id = :pid "
        "AND (s.reviewer IS NULL OR s.expires_at <= :now) AND " + _eligible("s") + " ORDER BY s.rank LIMIT :k",
        {**args, "k": k - len(held)},
    ).fetchall() if len(held) < k else []
    room = left(conn, project, now)
    chosen = [tuple(r) for r in held]
    for idx, score, version, cost in free:
        fits, room = charge(project, room, cost)
        if fits:
            chosen.append((idx, score, version))
    conn.executemany(
        "UPDATE suspects SET reviewer = ?, expires_at = ? WHERE item_idx = ?",
        [(annotator, expires, idx) for idx, _, _ in chosen],
    )
    return chosen


def split_reviews(
    conn: sqlite3.Connection, project: Project, labels: Sequence[LabelIn], items: dict[str, dict[str, Any]],
    now: float,
) -> tuple[list[LabelIn], list[LabelIn]]:
    """(review answers, other labels): an answer about an open suspect from an annotator who may
    review it, unless another reviewer holds it under a live lease. With review off, no answer is one."""
    if project.review is None:
        return [], list(labels)
    reviews, rest = [], []
    for entry in labels:
        row = conn.execute(
            "SELECT 1 FROM suspects s WHERE s.item_idx = :idx AND " + _eligible("s")
            + " AND (s.reviewer IS NULL OR s.reviewer = :who OR s.expires_at <= :now)",
            {"idx": items[str(entry.item_id)]["idx"], "who": entry.annotator, "now": now},
        ).fetchone()
        (reviews if row else rest).append(entry)
    return reviews, rest


def _answer(conn: sqlite3.Connection, project: Project, idx: int, entry: LabelIn, now: float) -> str:
    """Record one review answer; returns its outcome."""
    label = conn.execute("SELECT label, annotator, created_at FROM labels WHERE item_idx = ?", (idx,)).fetchone()
    suspect = conn.execute("SELECT score, model_version FROM suspects WHERE item_idx = ?", (idx,)).fetchone()
    outcome = "confirmed" if entry.label == label["label"] else "replaced"
    conn.execute(
        "INSERT INTO reviews (project_id, item_idx, reviewer, label, outcome, created_at, score, model_version, "
        "previous_label, previous_annotator, previous_created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (project.id, idx, entry.annotator, entry.label, outcome, now, suspect["score"], suspect["model_version"],
         label["label"], label["annotator"], label["created_at"]),
    )
    if outcome == "replaced":
        conn.execute("UPDATE labels SET label = ?, annotator = ? WHERE item_idx = ?",
                     (entry.label, entry.annotator, idx))
    conn.execute("DELETE FROM suspects WHERE item_idx = ?", (idx,))
    return outcome


def take_reviews(
    conn: sqlite3.Connection, project: Project, entries: Sequence[LabelIn], items: dict[str, dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """Record review answers (from :func:`split_reviews`): ``confirmed`` and ``replaced`` counts, the
    answers past the budget in ``rejected`` (a review held under the reviewer's lease is always taken),
    and ``duplicates``: a second answer about an item this batch already reviewed."""
    room = left(conn, project, now)
    confirmed, replaced, duplicates, rejected = 0, 0, 0, []
    for entry in entries:
        item = items[str(entry.item_id)]
        if conn.execute("SELECT 1 FROM suspects WHERE item_idx = ?", (item["idx"],)).fetchone() is None:
            duplicates += 1
            continue
        mine = conn.execute(
            "SELECT 1 FROM suspects WHERE item_idx = ? AND reviewer = ? AND expires_at > ?",
            (item["idx"], entry.annotator, now),
        ).fetchone()
        if not mine:
            fits, room = charge(project, room, item["cost"])
            if not fits:
                rejected.append({"item_id": entry.item_id, "reason": "budget_exhausted"})
                continue
        if _answer(conn, project, item["idx"], entry, now) == "confirmed":
            confirmed += 1
        else:
            replaced += 1
    return {"confirmed": confirmed, "replaced": replaced, "duplicates": duplicates, "rejected": rejected}


def record_check(conn: sqlite3.Connection, project_id: int, check: dict[str, Any]) -> None:
    """Store a label check's outcome: its suspects replace the open ones nobody holds for review.

    ``check`` holds ``replaced_seen`` (replaced labels the round's model saw) and, when a check ran,
    ``suspects`` ((item, score) best first), ``created_at``, ``model_version``, ``n_labels``,
    ``checked``, ``method``, ``seconds``, ``error`` and ``annotators`` (CROWDLAB's per-annotator quality).
    Items reviewed before, unlabeled since, or held for review now are never (re)added.
    """
    fields = {k: v for k, v in check.items() if k != "suspects"}
    if "suspects" in check:
        fields["suspects"] = len(check["suspects"])
    if "annotators" in fields:
        fields["annotators"] = None if fields["annotators"] is None else json.dumps(fields["annotators"])
    columns = ", ".join(["project_id", *fields])
    updates = ", ".join(f"{k} = excluded.{k}" for k in fields)
    conn.execute(
        f"INSERT INTO label_checks ({columns}) VALUES ({', '.join('?' * (len(fields) + 1))}) "
        f"ON CONFLICT (project_id) DO UPDATE SET {updates}",
        (project_id, *fields.values()),
    )
    if "suspects" not in check:
        return
    now = time.time()
    conn.execute("DELETE FROM suspects WHERE project_id = ? AND (reviewer IS NULL OR expires_at <= ?)",
                 (project_id, now))
    conn.executemany(
        "INSERT INTO suspects (item_idx, project_id, rank, score, model_version, found_at, annotator) "
        "SELECT b.item_idx, b.project_id, ?, ?, ?, ?, b.annotator FROM labels b WHERE b.item_idx = ? "
        "AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_idx = b.item_idx) "
        "AND NOT EXISTS (SELECT 1 FROM suspects s WHERE s.item_idx = b.item_idx)",
        [(rank, float(score), check.get("model_version"), now, int(idx))
         for rank, (idx, score) in enumerate(check["suspects"])],
    )


def replaced_count(conn: sqlite3.Connection, project_id: int) -> int:
    """How many of the project's labels reviews replaced."""
    return conn.execute(
        "SELECT COUNT(*) FROM reviews WHERE project_id = ? AND outcome = 'replaced'", (project_id,)
    ).fetchone()[0]


def reviews_by_item(conn: sqlite3.Connection, project_id: int) -> dict[int, list[dict[str, Any]]]:
    """Each reviewed item's reviews, oldest first, as the export shows them."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(
        "SELECT item_idx, reviewer, label, outcome, created_at, score, previous_label, previous_annotator, "
        "previous_created_at FROM reviews WHERE project_id = ? ORDER BY id", (project_id,)
    ):
        grouped.setdefault(row[0], []).append({
            "reviewer": row[1], "label": row[2], "outcome": row[3], "reviewed_at": row[4], "score": row[5],
            "previous": {"label": row[6], "annotator": row[7], "labeled_at": row[8]},
        })
    return grouped


def review_summary(conn: sqlite3.Connection, project: Project, now: float) -> dict[str, Any]:
    """Status: the review queue, what reviews found and spent, and the last label check."""
    counts = dict(conn.execute(
        "SELECT outcome, COUNT(*) FROM reviews WHERE project_id = ? GROUP BY outcome", (project.id,)
    ).fetchall())
    queue = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN reviewer IS NOT NULL AND expires_at > ? THEN 1 ELSE 0 END), 0) FROM suspects WHERE project_id = ?",
        (now, project.id),
    ).fetchone()
    spent = conn.execute(
        "SELECT reviewed, review_spent FROM pool_counts WHERE project_id = ?", (project.id,)
    ).fetchone()
    check = conn.execute("SELECT * FROM label_checks WHERE project_id = ?", (project.id,)).fetchone()
    last = None
    if check is not None and check["created_at"] is not None:
        last = {k: check[k] for k in ("created_at", "model_version", "n_labels", "checked", "suspects", "method",
                                      "seconds", "error")}
    done = sum(counts.values())
    return {"review_queue": {
        "enabled": project.review is not None,
        "suspects": queue[0], "in_review": queue[1], "reviews": done,
        "confirmed": counts.get("confirmed", 0), "replaced": counts.get("replaced", 0),
        "replaced_rate": round(counts.get("replaced", 0) / done, 4) if done else None,
        "counts_against_budget": True,
        "spent": (spent[1] if project.budget_unit == "cost" else spent[0]) if spent else 0,
        "last_check": last,
    }}
