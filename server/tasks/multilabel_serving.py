"""What /next shows of a multi-label model: each item's suggested label set and per-label probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np

from alloop.store.predictions import Predictions

__all__ = ["suggest_sets"]


def suggest_sets(predictions: Predictions, labels: list[str], claimed: list[dict[str, Any]],
                 items: list[dict[str, Any]]) -> None:
    """Add ``suggestion: {"label": [names], "probabilities": {name: p}, "model_version"}`` to each served
    item the newest multi-label predictions file covers (``label`` is the set, as an answer would send it)."""
    pred, conf = predictions.pred, predictions.conf
    if pred.ndim != 2 or predictions.idx.size == 0:  # a classification file (none is written for this task)
        return
    wanted = np.asarray([item["idx"] for item in claimed], dtype=predictions.idx.dtype)
    pos = np.minimum(np.searchsorted(predictions.idx, wanted), predictions.idx.size - 1)
    for item_pos, public, hit in zip(pos.tolist(), items, (predictions.idx[pos] == wanted).tolist()):
        if not hit:
            continue
        chosen = np.flatnonzero(pred[item_pos])
        public["suggestion"] = {
            "label": [labels[j] for j in chosen],
            "probabilities": {} if conf is None else {
                labels[j]: round(float(conf[item_pos, j]), 3) for j in range(len(labels))},
            "model_version": predictions.version,
        }
