"""A seeded multi-label set shared by the multi-label tests: scikit-learn's ``make_multilabel_classification``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.datasets import make_multilabel_classification

LABELS = ["red", "green", "blue", "cyan", "pink"]


def ml_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 20) float32 features and an (n, 5) 0/1 label matrix, about 2 labels per item, some items none."""
    X, Y = make_multilabel_classification(n_samples=n, n_features=20, n_classes=len(LABELS), n_labels=2,
                                          allow_unlabeled=True, random_state=seed)
    return X.astype(np.float32), Y.astype(np.int8)


def answer(row: np.ndarray) -> list[str]:
    """The label set of one row of the label matrix, as an answer sends it."""
    return [LABELS[j] for j in np.flatnonzero(row)]


def ml_body(**overrides: Any) -> dict[str, Any]:
    """A valid multilabel project body with the given fields changed."""
    body: dict[str, Any] = {"name": "colors", "labels": LABELS, "task": "multilabel", "batch_size": 10,
                            "retrain_every": 10, "budget": 100, "seed": 0, "dedup": "off"}
    body.update(overrides)
    return body


def ml_items(X: np.ndarray, ids: range | list[int], Y: np.ndarray | None = None, split: str = "pool") -> dict[str, Any]:
    items = []
    for i in ids:
        item: dict[str, Any] = {"id": f"m{i}", "features": X[i].tolist()}
        if Y is not None:
            item["label"] = answer(Y[i])
        items.append(item)
    return {"split": split, "items": items}
