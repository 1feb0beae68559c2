"""Model names: short aliases, or the dotted path of any scikit-learn classifier."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sklearn.base import is_classifier

from models.base import Model
from models.sklearn import SklearnModel

__all__ = ["ALIASES", "UnknownModel", "build_model", "check_model", "names"]

ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "logistic_regression": ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
    "random_forest": ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 100}),
    "extra_trees": ("sklearn.ensemble.ExtraTreesClassifier", {"n_estimators": 100}),
    "gradient_boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", {}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", {}),
    "naive_bayes": ("sklearn.naive_bayes.GaussianNB", {}),
    "svm": ("sklearn.svm.SVC", {"probability": True}),
    "linear_svm": ("sklearn.svm.LinearSVC", {}),
    "mlp": ("sklearn.neural_network.MLPClassifier", {"max_iter": 500}),
}


class UnknownModel(ValueError):
    """A model name or parameter the server cannot build."""


def names() -> list[str]:
    """Known aliases; any ``sklearn.<module>.<Classifier>`` path works as well."""
    return sorted(ALIASES)


def _estimator_class(name: str) -> tuple[type, dict[str, Any]]:
    path, defaults = ALIASES.get(name, (name, {}))
    module_name, _, class_name = path.rpartition(".")
    if not module_name.startswith("sklearn.") or not class_name:
        raise UnknownModel(
            f"unknown model {name!r}; use one of {names()} or a scikit-learn classifier path "
            "such as 'sklearn.ensemble.RandomForestClassifier'"
        )
    try:
        cls = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise UnknownModel(f"no scikit-learn class {path!r}") from None
    if not isinstance(cls, type) or not is_classifier(cls()):
        raise UnknownModel(f"{path!r} is not a scikit-learn classifier")
    return cls, defaults


def build_model(spec: dict[str, Any], n_classes: int, seed: int) -> Model:
    """An unfitted adapter for ``{"name", "params"}``; ``random_state`` defaults to ``seed``."""
    cls, defaults = _estimator_class(spec.get("name", "logistic_regression"))
    params = {**defaults, **spec.get("params", {})}
    if "random_state" in cls().get_params() and "random_state" not in params:
        params["random_state"] = seed
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise UnknownModel(f"bad parameters for {spec.get('name')!r}: {exc}") from None
    return SklearnModel(estimator, n_classes)


def check_model(spec: dict[str, Any], n_classes: int) -> None:
    """Raise :class:`UnknownModel` unless ``spec`` builds with valid parameter values."""
    model = build_model(spec, n_classes, seed=0)
    validate = getattr(getattr(model, "template", None), "_validate_params", None)
    if validate is not None:  # scikit-learn checks values (C > 0, ...) only at fit time otherwise
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise UnknownModel(f"bad parameters for {spec.get('name')!r}: {exc}") from None
