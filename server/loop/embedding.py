"""Text to vectors, once, in the background: the embedding job of text campaigns.

Items arrive with ``text`` and no feature row. The controller embeds them in batches
of ``settings.embed_batch_rows``, appends the vectors to the project's feature file
(fsynced first), then points the items at their rows in one transaction. An item is
servable, and trainable, as soon as it has its row; status shows the progress.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from alloop import distributed
from alloop.quality.duplicates import apply_links, near_links
from alloop.store.db import Store
from alloop.store.features import FeatureFile
from alloop.store.items import items_changed
from alloop.store.projects import get_project

if TYPE_CHECKING:
    from alloop.models.base import Encoder

__all__ = ["DEFAULT_ENCODER", "embed_round", "embedding_progress", "load_encoder", "record_embedding"]

DEFAULT_ENCODER: dict[str, Any] = {"name": "all-MiniLM-L6-v2", "path": None, "params": {}}
_CACHE: dict[str, "Encoder"] = {}
_CACHE_LOCK = threading.Lock()


def load_encoder(spec: dict[str, Any] | None) -> Encoder:
    """The encoder a project names, loaded once per process.

    ``{"name": "hashing", "params": {"dim": 1024}}`` needs nothing beyond scikit-learn;
    every other spec goes to :func:`alloop.models.encoders.load_encoder` (the ``text`` extra).
    """
    from alloop.models.base import MissingDependency  # models pull in scikit-learn: not at server start
    from alloop.models.hashing import HashingEncoder

    spec = {**DEFAULT_ENCODER, **(spec or {})}
    key = repr(sorted((k, repr(v)) for k, v in spec.items()))
    with _CACHE_LOCK:
        if key not in _CACHE:
            if spec["name"] == "hashing":
                _CACHE[key] = HashingEncoder(**spec.get("params", {}))
            else:
                try:
                    from alloop.models.encoders import load_encoder as load_neural
                except ImportError as exc:
                    raise MissingDependency(
                        f"text encoder {spec['name']!r} needs the text extra: pip install 'alloop[text]' ({exc})"
                    ) from None
                _CACHE[key] = load_neural({k: v for k, v in spec.items() if v not in (None, {})})
        return _CACHE[key]


def embedding_progress(conn: sqlite3.Connection, project_id: int) -> dict[str, int]:
    """How many items have their vector, and how many wait for one."""
    done, waiting = conn.execute(
        "SELECT COUNT(row), COUNT(*) - COUNT(row) FROM items WHERE project_id = ?", (project_id,)
    ).fetchone()
    return {"embedded": done, "to_embed": waiting}


def embed_round(store: Store, project_id: int, batch_rows: int) -> tuple[int, functools.partial | None]:
    """Embed up to ``batch_rows`` waiting items into the feature file.

    Returns how many, and the write that points the items at their rows (run by the server's
    store, as every round's write is).
    """
    with store.read() as conn:
        project = get_project(conn, project_id)
        waiting = conn.execute(
            "SELECT idx, text FROM items WHERE project_id = ? AND row IS NULL ORDER BY idx LIMIT ?",
            (project_id, batch_rows),
        ).fetchall()
    if not waiting:
        return 0, None
    texts = [r["text"] for r in waiting]
    vectors = None
    pool = distributed.cluster() if len(texts) > 1 else None
    if pool is not None:  # split over one encoder actor per CPU of the cluster
        try:
            vectors = pool.encode(project.encoder, texts)
        except distributed.ClusterUnavailable as exc:  # embedded here instead; the log says why
            distributed.failed(exc)
    if vectors is None:
        vectors = np.asarray(load_encoder(project.encoder).encode(texts), dtype=np.float32)
    if project.n_features not in (None, vectors.shape[1]):
        raise ValueError(f"encoder gives {vectors.shape[1]} dims, the project's vectors have {project.n_features}")
    features = FeatureFile(store.project_dir(project_id) / "features.f32", vectors.shape[1])
    start = features.append(vectors, store.durable)
    rows = [(start + k, r["idx"]) for k, r in enumerate(waiting)]
    # near duplicates of the new vectors among every vector so far (the write records them)
    links = None
    if project.dedup != "off" and project.dedup_threshold is not None:
        with store.read() as conn:
            links = near_links(conn, project_id, features.matrix(), project.dedup_threshold, dict(rows))
    return len(waiting), functools.partial(record_embedding, project_id, int(vectors.shape[1]), rows, links)


def record_embedding(
    project_id: int, dim: int, rows: list[tuple[int, int]], links: list[tuple[int, int, float, bool]] | None,
    conn: sqlite3.Connection,
) -> None:
    """Point embedded items at their feature rows (the vectors are already on disk, fsynced), and
    record their near duplicates."""
    conn.execute("UPDATE projects SET n_features = ? WHERE id = ? AND n_features IS NULL", (dim, project_id))
    conn.executemany("UPDATE items SET row = ? WHERE idx = ? AND row IS NULL", rows)
    items_changed(conn, project_id)
    if links:
        apply_links(conn, get_project(conn, project_id), links)
