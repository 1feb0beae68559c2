"""The newest model's prediction for every pool item, as a file beside the features.

Each training round writes ``predictions.npz`` in the project's folder: the pool items' idx
(sorted), the predicted class, its probability, and the model version. The loop reads it to
measure how much successive models agree (the stabilization stop); the server reads it to show
an annotator the model's current suggestion for an item (a project's ``suggest`` setting), once
per model version per project, then answers each ``/next`` with a binary search.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FILE", "PREDICTIONS", "Predictions", "PredictionCache", "save_predictions"]

FILE = "predictions.npz"


def save_predictions(path: Path, pool_idx: np.ndarray, probs: np.ndarray, version: int) -> None:
    """Replace the file at ``path`` (atomically) with the predictions of model ``version``."""
    order = np.argsort(pool_idx, kind="stable")
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, idx=pool_idx[order], pred=probs.argmax(axis=1)[order].astype(np.int16),
             conf=probs.max(axis=1)[order].astype(np.float16), version=np.int64(version))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Predictions:
    """One version's predictions; ``lookup`` answers (class, probability) per item idx it covers."""

    version: int | None
    idx: np.ndarray
    pred: np.ndarray
    conf: np.ndarray | None

    @classmethod
    def read(cls, path: Path) -> Predictions:
        with np.load(path) as data:
            idx, pred = data["idx"], data["pred"]
            order = np.argsort(idx, kind="stable")  # files from before 0.2 were not sorted
            conf = data["conf"][order] if "conf" in data else None
            version = int(data["version"]) if "version" in data else None
            return cls(version, idx[order], pred[order], conf)

    def lookup(self, items: list[int]) -> dict[int, tuple[int, float | None]]:
        if not items or self.idx.size == 0:
            return {}
        wanted = np.asarray(items, dtype=self.idx.dtype)
        pos = np.minimum(np.searchsorted(self.idx, wanted), self.idx.size - 1)
        found = self.idx[pos] == wanted
        return {
            int(item): (int(self.pred[p]), None if self.conf is None else round(float(self.conf[p]), 3))
            for item, p, hit in zip(wanted.tolist(), pos.tolist(), found.tolist()) if hit
        }


class PredictionCache:
    """Each project's newest predictions, reread only when the file changes (one stat per call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[Path, tuple[tuple[int, int], Predictions]] = {}

    def get(self, folder: Path) -> Predictions | None:
        path = folder / FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            hit = self._cached.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            loaded = Predictions.read(path)
        except (OSError, ValueError, KeyError):  # replaced while being read: the next call rereads
            return None
        with self._lock:
            self._cached[path] = (key, loaded)
        return loaded


PREDICTIONS = PredictionCache()
"""The server process's cache (keyed by each project's folder)."""
