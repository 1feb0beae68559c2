"""Multi-label models: one probability per label, ``predict_proba(X) -> (n, L)``, fitted on an (n, L) 0/1 matrix.

- Any scikit-learn model a classification project takes (an alias or a classifier path, with its
  ``calibration``) becomes :class:`OneVsRest`: one binary adapter per label (binary relevance). Each is
  the classification adapter (:class:`alloop.models.sklearn.SklearnModel`), so decision-mode SVMs and
  calibration behave as they do there, and a label that has shown one value only so far gets a
  constant probability (0 or 1) instead of a fit that would fail. scikit-learn's own
  ``OneVsRestClassifier`` needs ``predict_proba`` from the estimator and warns on constant labels.
- ``torch_mlp`` / ``torch_ensemble`` become :class:`alloop.models.torch_multilabel.TorchMultiLabelMLP`:
  the same MLP heads with a sigmoid output per label, trained with binary cross-entropy.
- ``transformer`` (text projects) becomes :class:`alloop.models.transformers_multilabel.TransformerMultiLabel`:
  the fine-tuned Hugging Face classifier with a sigmoid head, trained with binary cross-entropy.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from alloop.models.registry import TORCH_MODELS, UnknownModel, build_model, check_model, names

__all__ = ["MULTILABEL_TORCH", "OneVsRest", "build_multilabel", "check_multilabel", "load_multilabel"]

MULTILABEL_TORCH = ("torch_mlp", "torch_ensemble", "transformer")


def _accepted() -> str:
    return ", ".join(n for n in names() if n not in TORCH_MODELS or n in MULTILABEL_TORCH)


class OneVsRest:
    """Binary relevance over any scikit-learn adapter: one two-class model per label.

    ``n_classes`` is the number of labels L; ``predict_proba`` gives each label's probability of
    applying, (n, L) float32 (rows need not sum to 1).
    """

    input_kind = "vector"
    multilabel = True

    def __init__(self, spec: dict[str, Any], n_labels: int, seed: int) -> None:
        self.spec = spec
        self.n_classes = n_labels
        self.seed = seed
        self.members: list[Any] = []

    def fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Fit one binary model per column of the (n, L) 0/1 matrix ``Y``."""
        Y = np.asarray(Y, dtype=np.int64)
        if Y.ndim != 2 or Y.shape[1] != self.n_classes:
            raise ValueError(f"multi-label targets must be (n, {self.n_classes}), got shape {Y.shape}")
        self.members = []
        for j in range(self.n_classes):
            member = build_model(self.spec, 2, self.seed + j)
            member.fit(X, Y[:, j])
            self.members.append(member)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, L) float32: each label's probability of applying (0.5 before any fit)."""
        X = np.asarray(X)
        out = np.full((X.shape[0], self.n_classes), 0.5, dtype=np.float32)
        for j, member in enumerate(self.members):
            out[:, j] = member.predict_proba(X)[:, 1]
        return out

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path: Path) -> OneVsRest:
        """Read a model written by :meth:`save` (only from the server's own data directory)."""
        from alloop.models.sklearn import _Unpickler

        with open(path, "rb") as handle:
            return _Unpickler(handle).load()


def check_multilabel(spec: dict[str, Any], n_labels: int) -> None:
    """Raise :class:`UnknownModel` unless ``spec`` names a model with a multi-label form and valid parameters."""
    name = spec.get("name", "logistic_regression")
    if name in TORCH_MODELS and name not in MULTILABEL_TORCH:
        raise UnknownModel(f"model {name!r} has no multi-label head; for a multilabel project use one of "
                           f"{_accepted()} or a scikit-learn classifier path")
    check_model(spec, 2)


def build_multilabel(spec: dict[str, Any], n_labels: int, seed: int) -> Any:
    """An unfitted multi-label adapter over ``n_labels`` labels (see the module docstring)."""
    name = spec.get("name", "logistic_regression")
    if name == "transformer":
        from alloop.models import _torch
        from alloop.models.registry import _torch_config

        _torch.require("torch", "transformers")
        from alloop.models.transformers_multilabel import TransformerMultiLabel

        return TransformerMultiLabel(n_labels, _torch_config(spec, seed))
    if name in MULTILABEL_TORCH:
        from alloop.models import _torch
        from alloop.models.registry import _torch_config

        _torch.require("torch")
        from alloop.models.torch_multilabel import TorchMultiLabelMLP

        return TorchMultiLabelMLP(n_labels, _torch_config(spec, seed))
    check_multilabel(spec, n_labels)
    return OneVsRest(spec, n_labels, seed)


def load_multilabel(spec: dict[str, Any], n_labels: int, path: Path) -> Any:
    """The fitted multi-label adapter that ``model.save(path)`` wrote."""
    if spec.get("name") == "transformer":
        from alloop.models.transformers_multilabel import TransformerMultiLabel

        model = TransformerMultiLabel.load(Path(path))
    elif spec.get("name") in MULTILABEL_TORCH:
        from alloop.models.torch_multilabel import TorchMultiLabelMLP

        model = TorchMultiLabelMLP.load(Path(path))
    else:
        model = OneVsRest.load(Path(path))
    if model.n_classes != n_labels:
        raise UnknownModel(f"saved model {str(path)!r} has {model.n_classes} labels, the project {n_labels}")
    return model
