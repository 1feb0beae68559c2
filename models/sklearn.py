"""Any scikit-learn classifier behind the :class:`alloop.models.base.Model` protocol."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.utils.validation import has_fit_parameter

__all__ = ["SklearnModel"]


def _softmax(scores: np.ndarray) -> np.ndarray:
    if scores.ndim == 1:  # binary decision_function: one margin per row
        scores = np.stack([-scores, scores], axis=1) / 2
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class SklearnModel:
    """Wraps an unfitted estimator; maps its ``classes_`` onto the project's label positions.

    Estimators without ``predict_proba`` are calibrated with ``CalibratedClassifierCV``
    (sigmoid, up to 3 folds) when every class has at least two labels, and fall back to
    a softmax of ``decision_function`` before that.
    """

    input_kind = "vector"

    def __init__(self, estimator: BaseEstimator, n_classes: int) -> None:
        self.template = estimator
        self.n_classes = n_classes
        self.fitted: Any = None
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)

    @property
    def takes_sample_weight(self) -> bool:
        """Whether :meth:`fit` hands ``sample_weight`` to the estimator (its ``fit`` takes one)."""
        return has_fit_parameter(self.template, "sample_weight")

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """Fit on ``y``; ``sample_weight`` reaches the estimator where it takes one (else it is ignored)."""
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:  # one class seen: predict it with certainty
            self.fitted = None
            return
        estimator = clone(self.template)
        if not hasattr(estimator, "predict_proba"):
            smallest = int(np.bincount(y)[self.classes_].min())
            if smallest >= 2:
                estimator = CalibratedClassifierCV(estimator, cv=min(3, smallest), method="sigmoid")
        if sample_weight is not None and self.takes_sample_weight:
            estimator.fit(X, y, sample_weight=sample_weight)
        else:
            estimator.fit(X, y)
        self.fitted = estimator

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((X.shape[0], self.n_classes), dtype=np.float32)
        if self.classes_.size == 0:
            out[:] = 1.0 / self.n_classes
        elif self.fitted is None:
            out[:, self.classes_[0]] = 1.0
        elif hasattr(self.fitted, "predict_proba"):
            out[:, self.fitted.classes_] = self.fitted.predict_proba(X)
        else:
            out[:, self.fitted.classes_] = _softmax(self.fitted.decision_function(X))
        return out

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: Path) -> SklearnModel:
        """Read a model written by :meth:`save` (only from the server's own data directory)."""
        with open(path, "rb") as handle:
            return _Unpickler(handle).load()


class _Unpickler(pickle.Unpickler):
    """Reads models saved before alloop became one package (``models.sklearn``, not
    ``alloop.models.sklearn``), so a data directory from 0.1 keeps its saved versions."""

    _MOVED = {"models": "alloop.models", "strategies": "alloop.strategies", "server": "alloop"}

    def find_class(self, module: str, name: str) -> Any:
        top, dot, rest = module.partition(".")
        if top in self._MOVED:
            module = self._MOVED[top] + dot + rest
        return super().find_class(module, name)
