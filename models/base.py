"""The protocols every model adapter and text encoder follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["Model", "Encoder", "MissingDependency"]


class MissingDependency(ImportError):
    """An optional library or a local model is missing; the message says what to install or which path was tried."""


@runtime_checkable
class Model(Protocol):
    """A classifier over a fixed label set of ``n_classes`` labels.

    Labels are integers ``0..n_classes-1`` (positions in the project's label list);
    ``predict_proba`` always returns all ``n_classes`` columns, zeros for a class the
    training data never showed.

    ``input_kind`` says what ``fit`` and ``predict_proba`` take: ``"vector"`` models get
    an (n, d) float32 array (features, or the encoder's embeddings of text items);
    ``"text"`` models (a fine-tuned transformer) get a list of n strings.

    Optional methods, used by strategies that need them when present:

    - ``embed(X) -> (n, e) float32``: the model's own embedding (penultimate layer).
    - ``sample_proba(X, n_samples) -> (S, n, n_classes) float32``: sampled probabilities
      (MC dropout passes or ensemble members) for BALD and committee strategies.
    """

    n_classes: int
    input_kind: Literal["vector", "text"]

    def fit(self, X: Any, y: np.ndarray) -> None:
        """Train on inputs ``X`` with integer labels ``y`` (n,)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) float32 class probabilities, rows summing to 1."""

    def save(self, path: Path) -> None:
        """Write the fitted model to ``path`` (a file or a directory the adapter creates)."""


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into fixed-length vectors, once, at import time."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), dim) float32 embeddings."""
