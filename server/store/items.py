"""Items: import (features to the feature file, rows to SQLite) and pool counts."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alloop.errors import Invalid
from alloop.quality.duplicates import apply_links, exact_key, link_new, near_links
from alloop.schemas import ItemIn
from alloop.store.db import Store
from alloop.store.features import FeatureFile
from alloop.store.projects import Project, get_project, resume_project
from alloop.tasks import canonical_label

__all__ = [
    "counts", "feature_file", "has_unlabeled", "import_items", "items_changed", "labeled_count", "leased_count",
    "lookup_items",
]

_CHUNK = 500


def feature_file(store: Store, project: Project) -> FeatureFile | None:
    """The project's feature file, or None before its first import."""
    if project.n_features is None:
        return None
    return FeatureFile(store.project_path(project.id) / "features.f32", project.n_features)


def _check(project: Project, split: str, items: Sequence[ItemIn]) -> int | None:
    """Validate a batch against the project; returns its feature length (vector input)."""
    ids = [str(item.id) for item in items]
    dup, times = Counter(ids).most_common(1)[0]
    if times > 1:
        raise Invalid(f"item id {dup!r} appears {times} times in this request")
    for n, item in enumerate(items):
        if split == "eval" and item.label is None:
            raise Invalid(f"items.{n}: eval items need their gold label")
        if split == "pool" and item.label is not None:
            raise Invalid(f"items.{n}: pool items are imported unlabeled; send labels to /labels")
        if item.label is not None:
            try:  # the gold answer in its stored form (a structured answer becomes its canonical string)
                item.label = canonical_label(project.task, project.labels, item.label, item.text)
            except ValueError as exc:
                raise Invalid(f"items.{n}: {exc}") from None
        if project.input == "vector" and item.features is None:
            raise Invalid(f"items.{n}: this project takes vector input; 'features' is required")
        if project.input == "text" and item.text is None:
            raise Invalid(f"items.{n}: this project takes text input; 'text' is required")
        if project.input == "image" and item.features is not None:
            raise Invalid(f"items.{n}: this project reads the pixels of 'image' or 'image_path', not 'features'; "
                          "to train on your own embeddings, make a vector project and show the image with it")
        if project.input != "image" and item.image_path is not None:
            raise Invalid(f"items.{n}: image_path is for image projects (input 'image'); this one takes "
                          f"{project.input} input (show a picture with 'image' or 'image_url')")
    if project.input != "vector":
        return None
    expected = project.n_features or len(items[0].features or ())
    if expected == 0:
        raise Invalid("items: features must not be empty")
    bad = next((n for n, item in enumerate(items) if len(item.features or ()) != expected), None)
    if bad is not None:
        raise Invalid(
            f"items.{bad}: features has length {len(items[bad].features or ())}, expected {expected}"
        )
    return expected


def _existing(conn: sqlite3.Connection, project_id: int, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT ext_id FROM items WHERE project_id = ? AND ext_id IN ({marks})",
            (project_id, *chunk),
        )
        found.update(r[0] for r in rows)
    return found


def _search_near(store: Store, project_id: int) -> None:
    """Near duplicates of the vectors past the project's ``near_row``, searched outside the write
    transaction (a 20,000-vector import takes seconds: /next must not wait on it), then recorded in
    one short write. An import whose search never ran (a crash) is covered by the next one's."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        features = feature_file(store, project)
        if project.dedup == "off" or project.dedup_threshold is None or features is None:
            return  # off, or exact duplicates only (grouped in the import's write)
        matrix = features.matrix()
        new = dict(conn.execute(
            "SELECT row, idx FROM items WHERE project_id = ? AND row >= ?", (project_id, project.near_row)
        ).fetchall())
        threshold = project.dedup_threshold
        links = near_links(conn, project_id, matrix, threshold, new) if new else []
    with store.write() as conn:
        project = get_project(conn, project_id)
        if project.dedup == "off" or project.dedup_threshold != threshold:
            return  # changed meanwhile: that PATCH regrouped (or ungrouped) the whole project
        apply_links(conn, project, links)
        conn.execute("UPDATE projects SET near_row = MAX(near_row, ?) WHERE id = ?", (matrix.shape[0], project_id))


def _pixels(store: Store, project_id: int, split: str, items: Sequence[ItemIn],
            image_root: Path | None) -> tuple[dict[str, int], np.ndarray] | None:
    """Image projects: the pixels of the items not stored yet (by id: their row in the matrix), decoded
    before the write (it takes a while on a large upload, and a bad image must stop the import before
    anything is written); None for other projects."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        if project.input != "image":
            return None
        _check(project, split, items)
        existing = _existing(conn, project_id, [str(item.id) for item in items])
    from alloop.pixels import item_pixels, spec_of  # Pillow's decoders: image projects only

    new = [n for n, item in enumerate(items) if str(item.id) not in existing]
    matrix = item_pixels(items, spec_of(project.image), image_root, only=new)
    return {str(items[n].id): k for k, n in enumerate(new)}, matrix


def import_items(store: Store, project_id: int, split: str, items: Sequence[ItemIn],
                 image_root: Path | None = None) -> dict[str, int]:
    """Add new items (an id already present is skipped); all or nothing. Image projects read each
    item's image (inline, or ``image_path`` under ``image_root``) into the feature file."""
    pixels = _pixels(store, project_id, split, items, image_root)
    with store.write() as conn:
        project = get_project(conn, project_id)
        dim = _check(project, split, items)
        if pixels is not None:
            dim = pixels[1].shape[1]
        existing = _existing(conn, project_id, [str(item.id) for item in items])
        new = [item for item in items if str(item.id) not in existing]
        if not new:
            return {"added": 0, "skipped": len(items)}
        rows: list[int | None] = [None] * len(new)
        if dim is not None:
            if project.n_features is None:
                conn.execute("UPDATE projects SET n_features = ? WHERE id = ?", (dim, project_id))
            if pixels is not None:  # items are never deleted: what was new at the read is a superset
                matrix = pixels[1][[pixels[0][str(item.id)] for item in new]]
            else:
                matrix = np.asarray([item.features for item in new], dtype=np.float32)
            start = FeatureFile(store.project_dir(project_id) / "features.f32", dim).append(matrix, store.durable)
            rows = list(range(start, start + len(new)))
        # the pool's serving order past the ranking: seeded, so a campaign replays the same way
        before = conn.execute("SELECT COUNT(*) FROM items WHERE project_id = ?", (project_id,)).fetchone()[0]
        order = np.random.default_rng([project.seed, before]).random(len(new))
        conn.executemany(
            "INSERT INTO items (project_id, ext_id, split, row, text, meta, gold, order_key, cost, exact_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (project_id, str(item.id), split, row, item.text,
                 json.dumps(item.meta) if item.meta is not None else None, item.label, float(key), item.cost,
                 exact_key(item.text, item.features) if pixels is None else exact_key(None, matrix[n]))
                for n, (item, row, key) in enumerate(zip(new, rows, order))
            ],
        )
        items_changed(conn, project_id)
        if project.dedup != "off":  # exact duplicates now, in the same write; near ones (vectors) just after it
            added = lookup_items(conn, project_id, [str(i.id) for i in new])
            link_new(conn, project, [r["idx"] for r in added.values()], None)
        shown = [(item.shown_image, project_id, str(item.id)) for item in new if item.shown_image is not None]
        conn.executemany(
            "INSERT INTO item_images (item_idx, image) SELECT idx, ? FROM items WHERE project_id = ? AND ext_id = ?",
            shown,
        )
        if split == "pool" and project.stop_reason == "pool_exhausted":
            resume_project(conn, project_id)
    if dim is not None:
        _search_near(store, project_id)
    return {"added": len(new), "skipped": len(items) - len(new)}


def items_changed(conn: sqlite3.Connection, project_id: int) -> None:
    """Count a change to the project's items (new items, or vectors for some) with its label changes
    (``pool_counts.changes``), in the write that makes it: a round's snapshot then reads everything
    again. Counting the feature file's rows is not enough: they are written before the items that
    point at them commit, so a snapshot could see the rows but not the items."""
    conn.execute("UPDATE pool_counts SET changes = changes + 1 WHERE project_id = ?", (project_id,))


def labeled_count(conn: sqlite3.Connection, project_id: int) -> int:
    """Labeled pool items: one row that triggers on ``labels`` keep (schema v8)."""
    row = conn.execute("SELECT labeled FROM pool_counts WHERE project_id = ?", (project_id,)).fetchone()
    return row[0] if row else 0


def leased_count(conn: sqlite3.Connection, project_id: int, now: float) -> int:
    """Unlabeled items under a live lease (labeling deletes a lease, so this set stays small)."""
    return conn.execute(
        "SELECT COUNT(*) FROM leases l WHERE l.project_id = ? AND l.expires_at > ? "
        "AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = l.item_idx)",
        (project_id, now),
    ).fetchone()[0]


def has_unlabeled(conn: sqlite3.Connection, project_id: int) -> bool:
    """Whether any pool item is still unlabeled: the first entry of the open-pool index (schema v8)."""
    return conn.execute(
        "SELECT 1 FROM items i INDEXED BY items_open WHERE i.project_id = ? AND i.split = 'pool' AND i.labeled = 0 "
        "LIMIT 1",
        (project_id,),
    ).fetchone() is not None


def counts(conn: sqlite3.Connection, project_id: int, now: float) -> dict[str, int]:
    """How many pool items are labeled, unlabeled and leased; how many eval items.

    Counting the pool scans an index over every item: status pages only. The serving
    path uses :func:`labeled_count`, :func:`leased_count` and :func:`has_unlabeled`.
    """
    by_split = dict(conn.execute(
        "SELECT split, COUNT(*) FROM items WHERE project_id = ? GROUP BY split", (project_id,)
    ).fetchall())
    pool, eval_ = by_split.get("pool", 0), by_split.get("eval", 0)  # 'leaked': dropped from the pool
    labeled = labeled_count(conn, project_id)
    leased = leased_count(conn, project_id, now)
    return {"labeled": labeled, "unlabeled": pool - labeled, "leased": leased, "eval": eval_, "pool": pool}


def lookup_items(conn: sqlite3.Connection, project_id: int, ext_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Map client ids to their stored rows (idx, split, row, text, meta)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ext_ids), _CHUNK):
        chunk = ext_ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT * FROM items WHERE project_id = ? AND ext_id IN ({marks})", (project_id, *chunk)
        ):
            found[row["ext_id"]] = dict(row)
    return found

