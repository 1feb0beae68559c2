"""The protocol every model adapter follows."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Model"]


@runtime_checkable
class Model(Protocol):
    """A classifier over a fixed label set of ``n_classes`` labels.

    Labels are integers ``0..n_classes-1`` (positions in the project's label list);
    ``predict_proba`` always returns all ``n_classes`` columns, zeros for a class the
    training data never showed.
    """

    n_classes: int

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Train on ``X`` (n, d) float32 with integer labels ``y`` (n,)."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) float32 class probabilities, rows summing to 1."""

    def save(self, path: Path) -> None:
        """Write the fitted model to ``path``."""
