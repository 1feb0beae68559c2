"""Schema, versioned with ``PRAGMA user_version``; each migration runs once, in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

__all__ = ["migrate", "SCHEMA_VERSION"]


def _v1(db: sqlite_utils.Database) -> None:
    db["projects"].create(
        {
            "id": int, "name": str, "labels": str, "input": str, "model": str, "strategy": str,
            "batch_size": int, "budget": int, "target": str, "retrain_every": int,
            "lease_seconds": int, "seed": int, "cold_start": str, "stabilize": str,
            "encoder": str, "n_features": int, "state": str, "stop_reason": str,
            "created_at": float, "updated_at": float, "stopped_at": float,
        },
        pk="id",
        not_null={"name", "labels", "input", "model", "strategy", "state"},
    )
    db["items"].create(
        {
            "idx": int, "project_id": int, "ext_id": str, "split": str, "row": int,
            "text": str, "meta": str, "gold": str, "order_key": float,
        },
        pk="idx",
        foreign_keys=[("project_id", "projects", "id")],
        not_null={"project_id", "ext_id", "split", "order_key"},
    )
    db["items"].create_index(["project_id", "ext_id"], unique=True)
    db["items"].create_index(["project_id", "split", "order_key"])
    db["labels"].create(
        {
            "id": int, "project_id": int, "item_idx": int, "label": str, "annotator": str,
            "created_at": float, "model_version": int, "score": float, "strategy": str,
            "batch_id": int, "submission_id": str,
        },
        pk="id",
        foreign_keys=[("project_id", "projects", "id"), ("item_idx", "items", "idx")],
        not_null={"project_id", "item_idx", "label", "annotator", "created_at"},
    )
    db["labels"].create_index(["item_idx"], unique=True)
    db["labels"].create_index(["project_id", "id"])
    db["leases"].create(
        {
            "item_idx": int, "project_id": int, "annotator": str, "expires_at": float,
            "batch_id": int, "position": int, "score": float, "model_version": int, "strategy": str,
        },
        pk="item_idx",
        foreign_keys=[("item_idx", "items", "idx")],
        not_null={"project_id", "annotator", "expires_at"},
    )
    db["leases"].create_index(["project_id", "annotator"])
    db["batches"].create(
        {
            "id": int, "project_id": int, "annotator": str, "created_at": float,
            "model_version": int, "strategy": str, "items": str,
        },
        pk="id",
        foreign_keys=[("project_id", "projects", "id")],
    )
    db["rankings"].create(
        {"project_id": int, "model_version": int, "strategy": str, "created_at": float, "size": int},
        pk="project_id",
        foreign_keys=[("project_id", "projects", "id")],
    )
    db["queue"].create(
        {"project_id": int, "rank": int, "item_idx": int, "score": float},
        pk=("project_id", "rank"),
    )
    db["model_versions"].create(
        {
            "project_id": int, "version": int, "created_at": float, "n_labels": int,
            "metrics": str, "agreement": float, "train_seconds": float, "score_seconds": float,
            "artifact": str,
        },
        pk=("project_id", "version"),
        foreign_keys=[("project_id", "projects", "id")],
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Per-project tokens (hashes only) and idempotent label submissions."""
    db["tokens"].create(
        {"id": int, "project_id": int, "role": str, "name": str, "hash": str, "created_at": float,
         "revoked_at": float},
        pk="id",
        foreign_keys=[("project_id", "projects", "id")],
        not_null={"project_id", "role", "name", "hash", "created_at"},
    )
    db["tokens"].create_index(["hash"], unique=True)
    db["submissions"].create(
        {"project_id": int, "key": str, "digest": str, "response": str, "created_at": float},
        pk=("project_id", "key"),
        foreign_keys=[("project_id", "projects", "id")],
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Which Label Studio annotation gave which label (its deletions name annotation ids only).

    Databases from before this migration may already hold the table, created on first use.
    """
    db["labelstudio_links"].create(
        {"project_id": int, "annotation_id": int, "item_idx": int, "created_at": float},
        pk=("project_id", "annotation_id"),
        not_null={"project_id", "annotation_id", "item_idx", "created_at"},
        if_not_exists=True,
    )


def _v4(db: sqlite_utils.Database) -> None:
    """Labeling removes an item from the ranking (so /next never scans past labeled items)."""
    db["queue"].create_index(["project_id", "item_idx"], if_not_exists=True)
    db.execute(
        "DELETE FROM queue WHERE EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = queue.item_idx)"
    )


def _v5(db: sqlite_utils.Database) -> None:
    """Overlap: several annotators per item (``labels_per_item``).

    A lease is per (item, annotator); each answer is a row of ``votes``; ``tallies`` holds the
    items that have some votes but not yet their final label (a small set, read on every /next);
    a final label decided by majority records its ``agreement``.
    """
    db["projects"].add_column("labels_per_item", int, not_null_default=1)
    db["leases"].transform(pk=("item_idx", "annotator"))
    db["labels"].add_column("agreement", float)
    db["votes"].create(
        {
            "id": int, "project_id": int, "item_idx": int, "annotator": str, "label": str,
            "created_at": float, "model_version": int, "score": float, "strategy": str, "batch_id": int,
        },
        pk="id",
        foreign_keys=[("project_id", "projects", "id"), ("item_idx", "items", "idx")],
        not_null={"project_id", "item_idx", "annotator", "label", "created_at"},
    )
    db["votes"].create_index(["item_idx", "annotator"], unique=True)
    db["votes"].create_index(["project_id", "id"])
    db["tallies"].create(
        {"item_idx": int, "project_id": int, "votes": int},
        pk="item_idx",
        foreign_keys=[("item_idx", "items", "idx")],
        not_null={"project_id", "votes"},
    )
    db["tallies"].create_index(["project_id"])


def _v6(db: sqlite_utils.Database) -> None:
    """Labeling cost per item (e.g. seconds or text length), for cost-aware strategies; NULL counts 1."""
    db["items"].add_column("cost", float)


def _v7(db: sqlite_utils.Database) -> None:
    """Rankings by generation: a new one is staged in small writes, then switched in one.

    ``rankings.gen`` names the generation /next serves; queue rows of other generations are
    a ranking being staged, or an old one being cleared, and no reader sees them.
    """
    db["queue"].add_column("gen", int, not_null_default=0)
    db["queue"].transform(pk=("project_id", "gen", "rank"))
    db["queue"].create_index(["project_id", "item_idx"], if_not_exists=True)
    db["rankings"].add_column("gen", int, not_null_default=0)


def _v8(db: sqlite_utils.Database) -> None:
    """The open pool by index, and budgets in cost.

    ``items.labeled``, and ``pool_counts`` (labeled items and their summed cost per project),
    are kept by triggers on ``labels``, so they stay exact whatever writes a label. /next past
    the ranking, and the checks for an unlabeled item, read a partial index over the unlabeled
    pool in serving order instead of scanning past every labeled item (25 ms per /next at 20k
    labels, inside the writer transaction); what the budget has spent is one row, not a count
    over the project's labels. ``projects.budget_unit`` counts the budget in items or in cost.
    """
    db["projects"].add_column("budget_unit", str, not_null_default="items")
    db["items"].add_column("labeled", int, not_null_default=0)
    db.execute("UPDATE items SET labeled = 1 WHERE idx IN (SELECT item_idx FROM labels)")
    db["pool_counts"].create(
        {"project_id": int, "labeled": int, "spent": float}, pk="project_id",
        foreign_keys=[("project_id", "projects", "id")], not_null={"labeled", "spent"},
    )
    db.execute(
        "INSERT INTO pool_counts (project_id, labeled, spent) SELECT p.id, "
        "(SELECT COUNT(*) FROM labels b WHERE b.project_id = p.id), "
        "(SELECT COALESCE(SUM(COALESCE(i.cost, 1.0)), 0.0) FROM labels b JOIN items i ON i.idx = b.item_idx "
        "WHERE b.project_id = p.id) FROM projects p"
    )
    db.execute("CREATE INDEX items_open ON items (project_id, order_key) WHERE split = 'pool' AND labeled = 0")
    db.execute(
        "CREATE TRIGGER projects_count AFTER INSERT ON projects BEGIN "
        "INSERT INTO pool_counts (project_id, labeled, spent) VALUES (NEW.id, 0, 0.0); END"
    )
    db.execute(
        "CREATE TRIGGER labels_mark AFTER INSERT ON labels BEGIN "
        "UPDATE items SET labeled = 1 WHERE idx = NEW.item_idx; "
        "UPDATE pool_counts SET labeled = labeled + 1, "
        "spent = spent + (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = NEW.item_idx) "
        "WHERE project_id = NEW.project_id; END"
    )
    db.execute(
        "CREATE TRIGGER labels_unmark AFTER DELETE ON labels BEGIN "
        "UPDATE items SET labeled = 0 WHERE idx = OLD.item_idx; "
        "UPDATE pool_counts SET labeled = labeled - 1, "
        "spent = spent - (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = OLD.item_idx) "
        "WHERE project_id = OLD.project_id; END"
    )


def _v9(db: sqlite_utils.Database) -> None:
    """Which annotator a Label Studio annotation speaks for: with overlap it is one vote among
    several, and a deletion names only the annotation. Older links have NULL there."""
    db["labelstudio_links"].add_column("annotator", str)


def _v10(db: sqlite_utils.Database) -> None:
    """Bounded staleness: how many labels a ranking may fall behind before /next waits for the next.

    ``projects.max_stale_labels`` (NULL: never wait) caps the labels that may arrive after the
    served ranking was computed; ``rankings.n_labels`` records how many labels that ranking saw;
    ``batches.stale_labels`` how far behind it was when the batch was served. Projects made
    before this migration take the new default, twice their ``retrain_every``.
    """
    db["projects"].add_column("max_stale_labels", int)
    db.execute("UPDATE projects SET max_stale_labels = 2 * retrain_every")
    db["rankings"].add_column("n_labels", int, not_null_default=0)
    db.execute(
        "UPDATE rankings SET n_labels = COALESCE((SELECT v.n_labels FROM model_versions v "
        "WHERE v.project_id = rankings.project_id AND v.version = rankings.model_version), 0)"
    )
    db["batches"].add_column("stale_labels", int)


def _v11(db: sqlite_utils.Database) -> None:
    """Label Studio, linked from alloop's side: the server pushes each ranking into the linked
    project, reconciles annotations, and stops Label Studio serving when the campaign stops.

    ``labelstudio_projects`` holds the link (the Label Studio API token too: it is how the server
    calls Label Studio; it never leaves the server). ``pushed`` is what an external tool was last
    shown for an item (version, score, strategy): the provenance of a label given there, without
    a lease. ``labelstudio_paused`` lists the tasks alloop marked done in Label Studio to stop it
    serving them, so a resumed campaign unmarks exactly those. ``labelstudio_tasks`` maps the
    linked project's task ids to alloop item ids, so a push need not list every task each time.
    """
    db["labelstudio_projects"].create(
        {
            "project_id": int, "url": str, "token": str, "ls_project": int, "mode": str,
            "pushed_version": str, "pushed_gen": int, "pushed_at": float, "paused": int,
            "reconciled_at": float, "listed_at": float, "last_error": str, "created_at": float,
        },
        pk="project_id",
        foreign_keys=[("project_id", "projects", "id")],
        not_null={"url", "token", "ls_project", "mode", "created_at"},
        defaults={"paused": 0},
    )
    db["pushed"].create(
        {"item_idx": int, "project_id": int, "model_version": int, "score": float, "strategy": str},
        pk="item_idx",
        foreign_keys=[("item_idx", "items", "idx")],
        not_null={"project_id"},
    )
    db["pushed"].create_index(["project_id"])
    db["labelstudio_paused"].create(
        {"project_id": int, "task_id": int}, pk=("project_id", "task_id"),
    )
    db["labelstudio_tasks"].create(
        {"project_id": int, "task_id": int, "ext_id": str}, pk=("project_id", "task_id"),
    )
    db["labelstudio_tasks"].create_index(["project_id", "ext_id"])


def _v12(db: sqlite_utils.Database) -> None:
    """Items a person can look at, and the model's suggestion.

    ``item_images`` holds an item's image for display: a checked PNG/JPEG data URL or a link.
    A table of its own keeps the items rows (scanned by every round and every /next) small.
    ``projects.suggest``: whether /next shows the newest model's prediction for each item.
    """
    db["item_images"].create(
        {"item_idx": int, "image": str},
        pk="item_idx",
        foreign_keys=[("item_idx", "items", "idx")],
        not_null={"image"},
    )
    db["projects"].add_column("suggest", int, not_null_default=0)


def _v13(db: sqlite_utils.Database) -> None:
    """A count of every change to a project's labels, so a round can read only what changed.

    ``pool_counts.changes`` goes up by one for each label written, deleted or relabeled (the
    triggers of v8, recreated, and one on a change of ``labels.label``). A round that finds it
    grew exactly as much as the label count did knows the labels were only added, and reads
    those alone instead of the whole labeled set and pool again.
    """
    db["pool_counts"].add_column("changes", int, not_null_default=0)
    db.execute("UPDATE pool_counts SET changes = labeled")
    db.execute("DROP TRIGGER labels_mark")
    db.execute("DROP TRIGGER labels_unmark")
    db.execute(
        "CREATE TRIGGER labels_mark AFTER INSERT ON labels BEGIN "
        "UPDATE items SET labeled = 1 WHERE idx = NEW.item_idx; "
        "UPDATE pool_counts SET labeled = labeled + 1, changes = changes + 1, "
        "spent = spent + (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = NEW.item_idx) "
        "WHERE project_id = NEW.project_id; END"
    )
    db.execute(
        "CREATE TRIGGER labels_unmark AFTER DELETE ON labels BEGIN "
        "UPDATE items SET labeled = 0 WHERE idx = OLD.item_idx; "
        "UPDATE pool_counts SET labeled = labeled - 1, changes = changes + 1, "
        "spent = spent - (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = OLD.item_idx) "
        "WHERE project_id = OLD.project_id; END"
    )
    db.execute(
        "CREATE TRIGGER labels_relabel AFTER UPDATE OF label, item_idx, project_id ON labels BEGIN "
        "UPDATE pool_counts SET changes = changes + 1 WHERE project_id IN (OLD.project_id, NEW.project_id); END"
    )


def _v14(db: sqlite_utils.Database) -> None:
    """Duplicates and leakage (:mod:`alloop.quality`).

    ``items.exact_key`` hashes an item's normalized text or its vector's bytes; ``items.dup_group``
    is the id (smallest member idx) of the item's group of exact and near duplicates, NULL for an
    item with none. ``items.labeled = 2`` marks a pool item *skipped*: a duplicate of a labeled
    item, out of the open pool while the project's ``dedup`` is on. ``labels.propagated_from`` is
    the item a propagated label was copied from; ``pool_counts.free`` / ``free_spent`` count those
    labels, which the budget does not charge. ``leaks`` pairs eval items with the pool items they
    duplicate; ``projects.near_row``: feature rows below it have been searched for near duplicates
    (a vector import searches after its commit, outside the write). Projects made before this migration keep serving as before (``dedup = 'off'``,
    ``grouped = 0``: their groups are computed when a PATCH turns dedup on or sets a threshold).
    """
    db["projects"].add_column("dedup", str, not_null_default="skip")
    db["projects"].add_column("dedup_threshold", float)  # NULL: exact duplicates only
    db["projects"].add_column("leakage", str, not_null_default="report")
    db["projects"].add_column("grouped", int, not_null_default=1)
    db["projects"].add_column("near_row", int, not_null_default=0)
    db.execute("UPDATE projects SET dedup = 'off', grouped = 0")
    db["items"].add_column("exact_key", str)
    db["items"].add_column("dup_group", int)
    db.execute("CREATE INDEX items_exact ON items (project_id, exact_key) WHERE exact_key IS NOT NULL")
    db.execute("CREATE INDEX items_group ON items (dup_group) WHERE dup_group IS NOT NULL")
    db["labels"].add_column("propagated_from", int)
    db["pool_counts"].add_column("free", int, not_null_default=0)
    db["pool_counts"].add_column("free_spent", float, not_null_default=0.0)
    db["leaks"].create(
        {"project_id": int, "eval_idx": int, "pool_idx": int, "similarity": float, "exact": int},
        pk=("eval_idx", "pool_idx"),
        foreign_keys=[("project_id", "projects", "id")],
        not_null={"project_id", "similarity", "exact"},
    )
    db["leaks"].create_index(["project_id"])
    db.execute(
        "CREATE TRIGGER labels_free AFTER INSERT ON labels WHEN NEW.propagated_from IS NOT NULL BEGIN "
        "UPDATE pool_counts SET free = free + 1, "
        "free_spent = free_spent + (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = NEW.item_idx) "
        "WHERE project_id = NEW.project_id; END"
    )
    db.execute(
        "CREATE TRIGGER labels_unfree AFTER DELETE ON labels WHEN OLD.propagated_from IS NOT NULL BEGIN "
        "UPDATE pool_counts SET free = free - 1, "
        "free_spent = free_spent - (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = OLD.item_idx) "
        "WHERE project_id = OLD.project_id; END"
    )
    # a label skips the unlabeled members of its item's group (dedup on); taking it back un-skips
    # them unless another member is still labeled
    db.execute(
        "CREATE TRIGGER labels_skip AFTER INSERT ON labels "
        "WHEN (SELECT dedup FROM projects WHERE id = NEW.project_id) != 'off' "
        "AND (SELECT dup_group FROM items WHERE idx = NEW.item_idx) IS NOT NULL BEGIN "
        "UPDATE items SET labeled = 2 WHERE labeled = 0 "
        "AND dup_group = (SELECT dup_group FROM items WHERE idx = NEW.item_idx); "
        "DELETE FROM queue WHERE project_id = NEW.project_id AND item_idx IN (SELECT idx FROM items "
        "WHERE labeled = 2 AND dup_group = (SELECT dup_group FROM items WHERE idx = NEW.item_idx)); END"
    )
    # an item skipped or un-skipped, dropped from the pool or restored, is a change to the pool a
    # round's snapshot must read again (alloop.loop.snapshot): counted with the label changes
    db.execute(
        "CREATE TRIGGER items_pool_change AFTER UPDATE OF labeled, split ON items "
        "WHEN OLD.split != NEW.split OR (OLD.labeled != NEW.labeled AND 2 IN (OLD.labeled, NEW.labeled)) BEGIN "
        "UPDATE pool_counts SET changes = changes + 1 WHERE project_id = NEW.project_id; END"
    )
    db.execute(
        "CREATE TRIGGER labels_unskip AFTER DELETE ON labels "
        "WHEN (SELECT dup_group FROM items WHERE idx = OLD.item_idx) IS NOT NULL BEGIN "
        "UPDATE items SET labeled = 0 WHERE labeled = 2 "
        "AND dup_group = (SELECT dup_group FROM items WHERE idx = OLD.item_idx) "
        "AND NOT EXISTS (SELECT 1 FROM labels b JOIN items m ON m.idx = b.item_idx "
        "WHERE m.dup_group = items.dup_group); END"
    )


def _v15(db: sqlite_utils.Database) -> None:
    """Label-error review (issue 17): suspected wrong labels, their reviews, and what reviews spent.

    ``projects.review`` (JSON, NULL: off) holds the review settings. ``suspects`` holds a project's
    open suspects (labeled items cleanlab ranks as likely wrong, best first by ``rank``), with the
    review lease when /next has served one (``reviewer``, ``expires_at``). ``reviews`` keeps every
    review: the reviewer's answer, its ``outcome`` (``confirmed`` or ``replaced``) and the label it
    reviewed (``previous_*``: who gave it and when), so a replaced label stays in the provenance.
    ``label_checks`` records each project's last check (when, on how many labels, how long, how many
    replaced labels the model had seen). ``pool_counts.reviewed`` / ``review_spent`` count what
    reviews spent of the budget, kept by a trigger on ``reviews``.
    """
    db["projects"].add_column("review", str)
    db["suspects"].create(
        {
            "item_idx": int, "project_id": int, "rank": int, "score": float, "model_version": int,
            "found_at": float, "annotator": str, "reviewer": str, "expires_at": float, "batch_id": int,
        },
        pk="item_idx",
        foreign_keys=[("item_idx", "items", "idx")],
        not_null={"project_id", "rank", "score", "found_at"},
    )
    db["suspects"].create_index(["project_id", "rank"])
    db["reviews"].create(
        {
            "id": int, "project_id": int, "item_idx": int, "reviewer": str, "label": str, "outcome": str,
            "created_at": float, "score": float, "model_version": int, "previous_label": str,
            "previous_annotator": str, "previous_created_at": float,
        },
        pk="id",
        foreign_keys=[("project_id", "projects", "id"), ("item_idx", "items", "idx")],
        not_null={"project_id", "item_idx", "reviewer", "label", "outcome", "created_at"},
    )
    db["reviews"].create_index(["project_id", "id"])
    db["reviews"].create_index(["item_idx"])
    db["label_checks"].create(
        {
            "project_id": int, "created_at": float, "model_version": int, "n_labels": int, "checked": int,
            "suspects": int, "method": str, "seconds": float, "replaced_seen": int, "error": str, "annotators": str,
        },
        pk="project_id",
        foreign_keys=[("project_id", "projects", "id")],
    )
    db["pool_counts"].add_column("reviewed", int, not_null_default=0)
    db["pool_counts"].add_column("review_spent", float, not_null_default=0.0)
    db.execute(
        "CREATE TRIGGER reviews_spend AFTER INSERT ON reviews BEGIN "
        "UPDATE pool_counts SET reviewed = reviewed + 1, "
        "review_spent = review_spent + (SELECT COALESCE(cost, 1.0) FROM items WHERE idx = NEW.item_idx) "
        "WHERE project_id = NEW.project_id; END"
    )


def _v16(db: sqlite_utils.Database) -> None:
    """Task types (issue 20): ``projects.task`` says what one answer is (:mod:`alloop.tasks`); every
    project made before it is a classification project. Structured answers (a set of labels, typed
    spans) are stored in the same ``label`` columns as canonical JSON strings."""
    db["projects"].add_column("task", str, not_null_default="classification")


def _v17(db: sqlite_utils.Database) -> None:
    """Image projects (issue 20): ``projects.image`` (JSON; NULL for other inputs) holds the size and
    color every image is resized to before its pixels go to the feature file. An item's image file
    (``image_path``) is kept in ``item_images.image`` as ``file:`` + its path under the images root."""
    db["projects"].add_column("image", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13, _v14, _v15, _v16, _v17,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to :data:`SCHEMA_VERSION`; call inside a write transaction."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema {current} is newer than this alloop ({SCHEMA_VERSION}); upgrade alloop"
        )
    db = sqlite_utils.Database(conn)
    for version in range(current, SCHEMA_VERSION):
        MIGRATIONS[version](db)
        conn.execute(f"PRAGMA user_version={version + 1}")
