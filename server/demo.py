"""The demo campaign: scikit-learn's bundled digits (no download), pool plus a 400-item eval split.

Each digit carries its 8x8 picture (a PNG, dark ink on white) for the labeling page, and the
project shows the model's suggestion once a model exists, so a person can confirm with Enter.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from alloop import campaign
from alloop.images import png_data_url
from alloop.schemas import ItemIn, ProjectCreate
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.items import import_items
from alloop.store.projects import list_projects

__all__ = ["DEMO_NAME", "digit_image", "ensure_demo"]

DEMO_NAME = "digits-demo"


def ensure_demo(store: Store, settings: Settings, *, eval_size: int = 400, seed: int = 0) -> int:
    """Create the demo campaign unless it exists; returns its project id."""
    with store.read() as conn:
        existing = [p.id for p in list_projects(conn) if p.name == DEMO_NAME]
    if existing:
        _add_images(store, existing[0])
        return existing[0]
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    body = ProjectCreate(
        name=DEMO_NAME, labels=[str(d) for d in range(10)], batch_size=10, budget=300,
        retrain_every=20, target={"metric": "accuracy", "value": 0.94}, seed=seed, suggest=True,
        # raw pixels, not embeddings: at the default 0.95 a third of a digit class chains into one group;
        # at 0.99 only near-identical drawings are duplicates (7 pairs in the 1,797)
        dedup_threshold=0.99,
    )
    project = campaign.create_project(store, settings, body)
    evals, pool = order[:eval_size], order[eval_size:]
    import_items(store, project.id, "eval", [
        ItemIn(id=f"digit-{i}", features=X[i].tolist(), label=str(y[i])) for i in evals
    ])
    import_items(store, project.id, "pool", [
        ItemIn(id=f"digit-{i}", features=X[i].tolist(), image=digit_image(X[i])) for i in pool
    ])
    return project.id


def _add_images(store: Store, project_id: int) -> None:
    """A demo made by an alloop before 0.2 has no pictures: draw them, and turn suggestions on."""
    with store.write() as conn:
        missing = conn.execute(
            "SELECT i.idx, i.ext_id FROM items i LEFT JOIN item_images m ON m.item_idx = i.idx "
            "WHERE i.project_id = ? AND i.split = 'pool' AND m.item_idx IS NULL AND i.ext_id LIKE 'digit-%'",
            (project_id,),
        ).fetchall()
        if missing:
            X = load_digits().data
            conn.executemany("INSERT INTO item_images (item_idx, image) VALUES (?, ?)",
                             [(idx, digit_image(X[int(ext_id.removeprefix("digit-"))])) for idx, ext_id in missing])
            conn.execute("UPDATE projects SET suggest = 1 WHERE id = ?", (project_id,))


def digit_image(values: np.ndarray) -> str:
    """The 8x8 PNG of a digit from scikit-learn's 0-16 intensities, dark ink on white."""
    ink = np.clip(np.asarray(values, dtype=np.float64).reshape(8, 8) / 16.0, 0.0, 1.0)
    return png_data_url(np.round(255 * (1.0 - ink)).astype(np.uint8))
