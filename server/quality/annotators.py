"""Annotator quality: how often each annotator's answers agree with the final labels and with reviews.

An annotator's answers are the labels they gave (without overlap: the label as they gave it, before
any review replaced it) or their votes (with overlap). ``agreement`` is the share of their answers
equal to the item's final label (after reviews); ``review_agreement`` the share of their reviewed
answers equal to the reviewer's answer. ``reviews_given`` counts the reviews an annotator made.
With overlap, the last label check's CROWDLAB estimate (``crowdlab_quality``) comes along. Plain
SQL over the store: cheap enough for every status read.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from alloop.store.projects import Project

__all__ = ["annotator_quality"]

# Without overlap: each label as first given (a replaced one from its review), its final label, the review's answer.
_SINGLE = (
    "SELECT COALESCE(r.previous_annotator, b.annotator), COALESCE(r.previous_label, b.label), b.label, r.label "
    "FROM labels b LEFT JOIN reviews r ON r.item_idx = b.item_idx WHERE b.project_id = ?"
)
# With overlap: each vote, the item's final label (if decided), the review's answer.
_VOTES = (
    "SELECT v.annotator, v.label, b.label, r.label FROM votes v LEFT JOIN labels b ON b.item_idx = v.item_idx "
    "LEFT JOIN reviews r ON r.item_idx = v.item_idx WHERE v.project_id = ?"
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def annotator_quality(conn: sqlite3.Connection, project: Project) -> list[dict[str, Any]]:
    """One row per annotator (most answers first): answers, agreement with final labels and with reviews."""
    tally: dict[str, list[int]] = {}  # annotator -> [answers, decided, agree, reviewed, review agree, reviews given]
    for annotator, given, final, reviewed in conn.execute(_VOTES if project.labels_per_item > 1 else _SINGLE,
                                                          (project.id,)):
        t = tally.setdefault(annotator, [0] * 6)
        t[0] += 1
        if final is not None:
            t[1] += 1
            t[2] += given == final
        if reviewed is not None:
            t[3] += 1
            t[4] += given == reviewed
    for reviewer, n in conn.execute(
        "SELECT reviewer, COUNT(*) FROM reviews WHERE project_id = ? GROUP BY reviewer", (project.id,)
    ):
        tally.setdefault(reviewer, [0] * 6)[5] = n
    crowdlab = _crowdlab(conn, project.id)
    rows = []
    for name, (answers, decided, agree, reviewed, review_agree, given) in tally.items():
        row = {
            "annotator": name, "answers": answers, "agreement": _rate(agree, decided),
            "reviewed": reviewed, "review_agreement": _rate(review_agree, reviewed), "reviews_given": given,
        }
        if name in crowdlab:
            row["crowdlab_quality"] = crowdlab[name]["quality"]
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["answers"], r["annotator"]))


def _crowdlab(conn: sqlite3.Connection, project_id: int) -> dict[str, dict[str, float]]:
    """The last label check's CROWDLAB per-annotator figures (overlap only), else nothing."""
    row = conn.execute("SELECT annotators FROM label_checks WHERE project_id = ?", (project_id,)).fetchone()
    return json.loads(row[0]) if row and row[0] else {}
