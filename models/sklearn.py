"""Any scikit-learn classifier behind the :class:`alloop.models.base.Model` protocol."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC, NuSVC
from sklearn.utils.validation import has_fit_parameter

__all__ = ["CALIBRATIONS", "SklearnModel", "decision_columns", "softmax"]


CALIBRATIONS = ("none", "sigmoid", "isotonic")


def decision_columns(scores: np.ndarray) -> np.ndarray:
    """(n, k) decision values, one column per fitted class; a binary margin ``d`` becomes ``[-d/2, d/2]``,
    so the gap between the two columns is ``|d|``, the distance to the boundary in the SVM's units."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.stack([-scores, scores], axis=1) / 2
    return scores


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, k) decision values (what a model without probabilities reports as them)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _checked() -> Any:
    """scikit-learn without the checks alloop made already: parameters when the project was created
    (:func:`alloop.models.check_model`), finite features when items were imported. They cost about
    0.1 ms a call, as much as a small model's predict."""
    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def _canonical(
    X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows sorted by their values and label: the same labeled set in any order gives the same
    calibration folds (which the seed then shuffles)."""
    X = np.asarray(X)
    order = np.lexsort(np.column_stack([X.reshape(X.shape[0], -1), y]).T[::-1])
    return X[order], y[order], None if sample_weight is None else np.asarray(sample_weight)[order]


class SklearnModel:
    """Wraps an unfitted estimator; maps its ``classes_`` onto the project's label positions.

    ``calibration`` says where probabilities come from:

    - ``"none"`` (default): the estimator's own ``predict_proba``; an estimator without one (SVC,
      LinearSVC, RidgeClassifier) runs in *decision mode*: :meth:`decisions` gives its
      ``decision_function`` (one-vs-rest values, the signed margin for two classes), which the margin
      strategy ranks by (exact SVM margin sampling), ``predict_proba`` is their softmax, and
      :meth:`predict` is the estimator's own ``predict``.
    - ``"sigmoid"`` / ``"isotonic"``: ``CalibratedClassifierCV`` over up to 3 stratified folds,
      shuffled with the model's seed over the rows in a canonical order (the same labeled set gives
      the same model whatever its label order), once every class has two labels; decision mode
      before that.
    """

    input_kind = "vector"
    calibration = "none"  # class defaults: models pickled before these attributes load with them
    seed = 0
    _fresh = False  # the template has never been fitted: the first fit may use it without a clone

    def __init__(self, estimator: BaseEstimator, n_classes: int, calibration: str = "none", seed: int = 0) -> None:
        if calibration not in CALIBRATIONS:
            raise ValueError(f"calibration {calibration!r}: use one of {', '.join(CALIBRATIONS)}")
        self.template = estimator
        self.n_classes = n_classes
        self.calibration = calibration
        self.seed = seed
        self.fitted: Any = None
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self._fresh = True

    @property
    def takes_sample_weight(self) -> bool:
        """Whether :meth:`fit` hands ``sample_weight`` to the estimator (its ``fit`` takes one)."""
        return has_fit_parameter(self.template, "sample_weight")

    @property
    def decision_mode(self) -> bool:
        """Whether the fitted model answers with decision values rather than probabilities."""
        return self.fitted is not None and not hasattr(self.fitted, "predict_proba")

    @property
    def predicts_by_sign(self) -> bool:
        """Whether :meth:`predict` follows exactly from the decision values :meth:`decisions` reads: a
        two-class ``SVC`` or ``NuSVC`` in decision mode, whose libsvm vote takes the first class exactly where
        scikit-learn's (sign-flipped) decision value is negative (the same ``svm_predict_values`` arithmetic
        gives both). :meth:`decide` then answers both from one ``decision_function`` call."""
        return self.decision_mode and type(self.fitted) in (SVC, NuSVC) and self.fitted.classes_.size == 2

    def _calibrated(self, estimator: BaseEstimator, y: np.ndarray) -> BaseEstimator:
        if self.calibration == "none":
            return estimator
        smallest = int(np.bincount(y)[self.classes_].min())
        if smallest < 2:
            return estimator
        folds = StratifiedKFold(n_splits=min(3, smallest), shuffle=True, random_state=self.seed)
        return CalibratedClassifierCV(estimator, cv=folds, method=self.calibration)

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """Fit on ``y``; ``sample_weight`` reaches the estimator where it takes one (else it is ignored)."""
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:  # one class seen: predict it with certainty
            self.fitted = None
            return
        # a clone costs 0.1 ms of signature inspection, more than fitting a small model: a loop round
        # builds a fresh adapter and fits it once, so that first fit takes the unfitted template itself
        estimator = self.template if self._fresh else clone(self.template)
        self._fresh = False
        estimator = self._calibrated(estimator, y)
        if isinstance(estimator, CalibratedClassifierCV):  # folds by content, not by the order labels came in
            X, y, sample_weight = _canonical(X, y, sample_weight)
        with _checked():
            if sample_weight is not None and self.takes_sample_weight:
                estimator.fit(X, y, sample_weight=sample_weight)
            else:
                estimator.fit(X, y)
        self.fitted = estimator

    def decisions(self, X: np.ndarray) -> np.ndarray | None:
        """(n, n_classes) float64 decision values in decision mode (-inf for classes never labeled), else None."""
        if not self.decision_mode:
            return None
        out = np.full((X.shape[0], self.n_classes), -np.inf, dtype=np.float64)
        with _checked():
            out[:, self.fitted.classes_] = decision_columns(self.fitted.decision_function(X))
        return out

    def decide(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`decisions` and :meth:`predict` of the same rows from one ``decision_function`` call, for a
        model that :attr:`predicts_by_sign` (scikit-learn's input checks cost more than a small SVM's
        arithmetic: a second call for the eval split was a tenth of a batch-1 round)."""
        if not self.predicts_by_sign:
            raise ValueError("decide needs a two-class SVC or NuSVC in decision mode; use decisions and predict")
        out = np.full((X.shape[0], self.n_classes), -np.inf, dtype=np.float64)
        with _checked():
            raw = self.fitted.decision_function(X)
        out[:, self.fitted.classes_] = decision_columns(raw)
        return out, np.asarray(self.fitted.classes_.take(np.where(raw < 0, 0, 1)), dtype=np.int64)

    def probs_from_decisions(self, decisions: np.ndarray) -> np.ndarray:
        """The probabilities :meth:`predict_proba` reports for these :meth:`decisions` (no second pass)."""
        classes = self.fitted.classes_
        if classes.size == decisions.shape[1]:  # every label seen: no columns to pick or leave at 0
            return softmax(decisions).astype(np.float32)
        out = np.zeros(decisions.shape, dtype=np.float32)
        out[:, classes] = softmax(decisions[:, classes])
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.decision_mode:
            return self.probs_from_decisions(self.decisions(X))
        out = np.zeros((X.shape[0], self.n_classes), dtype=np.float32)
        if self.classes_.size == 0:
            out[:] = 1.0 / self.n_classes
        elif self.fitted is None:
            out[:, self.classes_[0]] = 1.0
        else:
            with _checked():
                out[:, self.fitted.classes_] = self.fitted.predict_proba(X)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) label positions: the estimator's own ``predict`` (an SVM's vote), the only class seen, or
        the most probable class."""
        if self.fitted is not None:
            with _checked():
                return np.asarray(self.fitted.predict(X), dtype=np.int64)
        if self.classes_.size:
            return np.full(X.shape[0], self.classes_[0], dtype=np.int64)
        return np.zeros(X.shape[0], dtype=np.int64)

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
