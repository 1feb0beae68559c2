"""Labels: validated, written durably before they are acknowledged, counted once."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from alloop.errors import Invalid, NotFound
from alloop.quality.duplicates import propagate
from alloop.schemas import LabelIn
from alloop.store.budget import budget_and_pool, charge, spent
from alloop.store.db import Store
from alloop.store.items import lookup_items
from alloop.store.projects import Project, get_project, stop_project
from alloop.store.reviews import reviews_by_item, split_reviews, take_reviews
from alloop.store.rounds import shown
from alloop.store.votes import cast_votes, votes_by_item
from alloop.tasks import canonical_label

__all__ = ["check_stop", "iter_export", "LABELED_ROWS", "label_write", "submit_labels"]


def _validate(project: Project, labels: Sequence[LabelIn], items: dict[str, dict[str, Any]]) -> list[LabelIn]:
    """The labels checked, each answer in its stored form (:func:`alloop.tasks.canonical_label`)."""
    checked = []
    for n, entry in enumerate(labels):
        item = items.get(str(entry.item_id))
        if item is None:
            raise NotFound(f"labels.{n}: item {entry.item_id!r} not found in project {project.id}")
        if item["split"] == "leaked":
            raise Invalid(f"labels.{n}: item {entry.item_id!r} was dropped from the pool: it duplicates an eval "
                          "item (the project's leakage setting is 'drop')")
        if item["split"] != "pool":
            raise Invalid(f"labels.{n}: item {entry.item_id!r} is an eval item; eval items are never labeled")
        try:
            answer = canonical_label(project.task, project.labels, entry.label, item.get("text"))
        except ValueError as exc:
            raise Invalid(f"labels.{n}: {exc}") from None
        checked.append(entry if answer is entry.label else entry.model_copy(update={"label": answer}))
    return checked


def check_stop(conn: sqlite3.Connection, project: Project) -> None:
    """Stop the campaign if its final labels spent the budget or no pool item is left unlabeled."""
    spent_all, unlabeled = budget_and_pool(conn, project)
    if spent_all:
        stop_project(conn, project.id, "budget_exhausted")
    elif not unlabeled:
        stop_project(conn, project.id, "pool_exhausted")


def _replay(conn: sqlite3.Connection, project_id: int, key: str | None, digest: str) -> dict[str, Any] | None:
    """The stored answer for a submission id seen before (same labels), else None."""
    if key is None:
        return None
    row = conn.execute(
        "SELECT digest, response FROM submissions WHERE project_id = ? AND key = ?", (project_id, key)
    ).fetchone()
    if row is None:
        return None
    if row["digest"] != digest:
        raise Invalid(f"submission id {key!r} was already used for different labels")
    return {**json.loads(row["response"]), "replayed": True}


def submit_labels(
    store: Store, project_id: int, labels: Sequence[LabelIn], now: float, *, submission_id: str | None = None
) -> dict[str, Any]:
    """Write every new label in one transaction; a label for an already labeled item is a duplicate,
    unless it answers a review of that label (:mod:`alloop.store.reviews`, counted in ``accepted``
    and in ``reviews``).

    Labels past the budget are not written; they come back in ``rejected`` with the reason.
    With a ``submission_id``, a replay returns the first answer and writes nothing.
    """
    return store.transact(label_write(project_id, labels, now, submission_id=submission_id))


def label_write(
    project_id: int, labels: Sequence[LabelIn], now: float, *, submission_id: str | None = None,
    project: Project | None = None,
) -> Callable[[sqlite3.Connection], dict[str, Any]]:
    """The write :func:`submit_labels` makes, for :meth:`Store.transact_async`. ``project``: the project
    as this same transaction already read it (a claim's, when the labels answer it in the same write)."""
    digest = ""  # what a replay of the same submission id is checked against; none without an id
    if submission_id is not None:
        digest = hashlib.sha256(json.dumps([e.model_dump() for e in labels], sort_keys=True).encode()).hexdigest()
    return lambda conn: _submit(conn, project_id, labels, now, submission_id, digest, project)


def _submit(
    conn: sqlite3.Connection, project_id: int, labels: Sequence[LabelIn], now: float, submission_id: str | None,
    digest: str, project: Project | None = None,
) -> dict[str, Any]:
    project = get_project(conn, project_id) if project is None else project
    replay = _replay(conn, project_id, submission_id, digest)
    if replay is not None:
        return replay
    items = lookup_items(conn, project_id, [str(entry.item_id) for entry in labels])
    labels = _validate(project, labels, items)
    reviews, labels = split_reviews(conn, project, labels, items, now)
    if project.labels_per_item > 1:
        answer = cast_votes(conn, project, labels, items, now)
    else:
        answer = _write_labels(conn, project, labels, items, now)
    if reviews:
        reviewed = take_reviews(conn, project, reviews, items, now)
        answer["accepted"] += reviewed["confirmed"] + reviewed["replaced"]
        answer["rejected"] += reviewed["rejected"]
        answer["duplicates"] += reviewed["duplicates"]
        answer["reviews"] = {"confirmed": reviewed["confirmed"], "replaced": reviewed["replaced"]}
    if answer.get("decided") or (project.labels_per_item == 1 and answer["accepted"]) or (
            reviews and answer["reviews"]["confirmed"] + answer["reviews"]["replaced"]):
        check_stop(conn, project)
    if submission_id is not None:
        conn.execute(
            "INSERT INTO submissions (project_id, key, digest, response, created_at) VALUES (?, ?, ?, ?, ?)",
            (project_id, submission_id, digest, json.dumps(answer), now),
        )
    return answer


def _write_labels(
    conn: sqlite3.Connection, project: Project, labels: Sequence[LabelIn], items: dict[str, dict[str, Any]], now: float
) -> dict[str, Any]:
    """Without overlap (k = 1): each answer is the item's final label."""
    room = None if project.budget is None else project.budget - spent(conn, project)
    accepted, duplicates, rejected, propagated = 0, 0, [], 0
    for entry in labels:
        item = items[str(entry.item_id)]
        idx = item["idx"]
        if conn.execute("SELECT 1 FROM labels WHERE item_idx = ?", (idx,)).fetchone():
            duplicates += 1
            continue
        fits, room = charge(project, room, item["cost"])
        if not fits:
            rejected.append({"item_id": entry.item_id, "reason": "budget_exhausted"})
            continue
        lease = conn.execute(
            "SELECT model_version, score, strategy, batch_id FROM leases WHERE item_idx = ?", (idx,)
        ).fetchone() or shown(conn, idx)
        conn.execute(
            "INSERT INTO labels (project_id, item_idx, label, annotator, created_at, model_version, "
            "score, strategy, batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (project.id, idx, entry.label, entry.annotator, now, *(lease or (None,) * 4)),
        )
        conn.execute("DELETE FROM leases WHERE item_idx = ?", (idx,))
        # Out of the ranking too, so /next never scans past what is already labeled.
        conn.execute("DELETE FROM queue WHERE project_id = ? AND item_idx = ?", (project.id, idx))
        accepted += 1
        propagated += propagate(conn, project, idx, entry.label, entry.annotator, now)
    answer: dict[str, Any] = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
    if propagated:
        answer["propagated"] = propagated
    return answer


# (idx, row, label) of every labeled pool item that has its vector, in labeling order
LABELED_ROWS = (
    "SELECT i.idx, i.row, b.label FROM labels b JOIN items i ON i.idx = b.item_idx "
    "WHERE b.project_id = ? AND i.row IS NOT NULL ORDER BY b.id"
)


EXPORT_FIELDS = (
    "item_id", "label", "annotator", "labeled_at", "model_version", "score", "strategy", "batch_id", "agreement",
    "stale_labels", "votes", "dup_group", "propagated_from", "reviews",
)


def iter_export(conn: sqlite3.Connection, project_id: int) -> Iterator[dict[str, Any]]:
    """Every final label with its provenance, oldest first.

    ``strategy`` says what chose the item: the ranking's strategy (with its ``model_version``
    and ``score``), a ``cold_start:<rule>`` ranking, or ``unranked`` (the pool's seeded random
    order past the ranking); null for a label given without a lease. ``stale_labels``: how many
    labels the ranking was behind when the item was served. ``votes`` lists each annotator's
    answer (``annotator``, ``label``, ``labeled_at``) in voting order; a label given without
    overlap is its own single vote, with ``agreement`` null. ``dup_group``: the item's group of
    duplicates (null: none); ``propagated_from``: the item whose label was copied to this exact
    duplicate (``dedup: propagate``; its strategy is ``propagated``), null for a label given.
    ``reviews`` lists the label's reviews (:func:`alloop.store.reviews.reviews_by_item`): a replaced
    label keeps who gave it and when there.
    """
    grouped = votes_by_item(conn, project_id)
    reviewed = reviews_by_item(conn, project_id)
    rows = conn.execute(
        "SELECT i.ext_id, b.label, b.annotator, b.created_at, b.model_version, b.score, b.strategy, "
        "b.batch_id, b.agreement, t.stale_labels, b.item_idx, i.dup_group, "
        "(SELECT s.ext_id FROM items s WHERE s.idx = b.propagated_from) FROM labels b "
        "JOIN items i ON i.idx = b.item_idx LEFT JOIN batches t ON t.id = b.batch_id WHERE b.project_id = ? "
        "ORDER BY b.id",
        (project_id,),
    )
    for row in rows:
        record = dict(zip(EXPORT_FIELDS, tuple(row)[:10]))
        record["dup_group"], record["propagated_from"] = row[11], row[12]
        single = [{"annotator": row[2], "label": row[1], "labeled_at": row[3]}]
        record["votes"] = grouped.get(row[10], single) if row[8] is not None else single
        record["reviews"] = reviewed.get(row[10], [])
        yield record
