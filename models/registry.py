"""Model names: short aliases, the dotted path of any scikit-learn classifier, or a torch adapter.

The torch adapters (``torch_mlp``, ``torch_ensemble``, ``transformer``, ``cnn``) are imported only
when built or loaded, so importing :mod:`models` never imports torch.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

from sklearn.base import is_classifier

from alloop.models import _torch
from alloop.models.base import Model
from alloop.models.configs import cnn_config, mlp_config, transformer_config
from alloop.models.sklearn import CALIBRATIONS, SklearnModel

__all__ = [
    "ALIASES", "TORCH_MODELS", "UnknownModel", "build_model", "check_model", "gives_samples", "input_kind", "load_model", "names",
]

ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "logistic_regression": ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
    "random_forest": ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 100}),
    "extra_trees": ("sklearn.ensemble.ExtraTreesClassifier", {"n_estimators": 100}),
    "gradient_boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", {}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", {}),
    "naive_bayes": ("sklearn.naive_bayes.GaussianNB", {}),
    # no probability=True (deprecated in scikit-learn 1.9, gone in 1.11): SklearnModel ranks by the
    # decision function (exact margin sampling), or calibrates when the spec asks (calibration=sigmoid)
    "svm": ("sklearn.svm.SVC", {}),
    "linear_svm": ("sklearn.svm.LinearSVC", {}),
    "mlp": ("sklearn.neural_network.MLPClassifier", {"max_iter": 500}),
}

# name -> (module, class, what it reads, libraries it needs)
TORCH_MODELS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "torch_mlp": ("alloop.models.torch_mlp", "TorchMLP", "vector", ("torch",)),
    "torch_ensemble": ("alloop.models.torch_mlp", "TorchEnsemble", "vector", ("torch",)),
    "transformer": ("alloop.models.transformers_clf", "TransformerClassifier", "text", ("torch", "transformers")),
    "cnn": ("alloop.models.cnn", "SmallCNN", "image", ("torch",)),
}


class UnknownModel(ValueError):
    """A model name or parameter the server cannot build."""


def names() -> list[str]:
    """Known aliases and torch adapters; any ``sklearn.<module>.<Classifier>`` path works as well."""
    return sorted([*ALIASES, *TORCH_MODELS])


def input_kind(spec: dict[str, Any]) -> str:
    """``"vector"``, ``"text"`` or ``"image"``: what the model a spec names reads, without building it
    (``"image"``: pixel rows of an image project, reshaped to its images)."""
    entry = TORCH_MODELS.get(spec.get("name", "logistic_regression"))
    return entry[2] if entry else "vector"


def gives_samples(spec: dict[str, Any]) -> bool:
    """Whether the model a spec names has ``sample_proba`` (MC dropout passes or ensemble members).

    The torch adapters do; scikit-learn estimators give one probability per class only, so
    committee and Bayesian strategies (BALD, BatchBALD, vote entropy, ...) cannot run on them.
    """
    return spec.get("name", "logistic_regression") in TORCH_MODELS


def _torch_config(spec: dict[str, Any], seed: int) -> Any:
    """Checked settings of a torch adapter; UnknownModel on a bad parameter."""
    name = spec["name"]
    try:
        if name == "transformer":
            return transformer_config(name, spec.get("params"), seed)
        if name == "cnn":
            return cnn_config(name, spec.get("params"), seed, spec.get("input_shape"))
        return mlp_config(name, spec.get("params"), seed, ensemble=name == "torch_ensemble")
    except ValueError as exc:
        raise UnknownModel(str(exc)) from None


def _torch_class(name: str) -> type:
    """The adapter class, imported now; MissingDependency names ``pip install 'alloop[text]'``."""
    module, cls, _, needs = TORCH_MODELS[name]
    _torch.require(*needs)
    return getattr(import_module(module), cls)


def _calibration(spec: dict[str, Any]) -> str:
    """The spec's calibration, checked: one of :data:`CALIBRATIONS`, and ``"none"`` for a torch adapter."""
    calibration = spec.get("calibration") or "none"
    if calibration not in CALIBRATIONS:
        raise UnknownModel(f"calibration {calibration!r}: use one of {', '.join(CALIBRATIONS)}")
    if calibration != "none" and spec.get("name") in TORCH_MODELS:
        raise UnknownModel(f"calibration {calibration!r} applies to scikit-learn models, not {spec['name']!r}")
    return calibration


@lru_cache(maxsize=64)
def _param_names(cls: type) -> frozenset[str]:
    """The constructor parameters of a scikit-learn estimator class (read once: a simulated campaign
    builds a model every round)."""
    return frozenset(cls().get_params())


def _ignores_random_state(cls: type, params: dict[str, Any]) -> bool:
    """SVC and NuSVC read ``random_state`` only for ``probability=True`` (their documentation says it is
    ignored otherwise), and seeding it costs a RandomState, 0.2-0.4 ms per fit, every round."""
    from sklearn.svm import SVC, NuSVC

    return issubclass(cls, (SVC, NuSVC)) and not params.get("probability", False)


@lru_cache(maxsize=64)
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
    """An unfitted adapter for ``{"name", "params"}``; ``random_state`` (or ``seed``) defaults to ``seed``.

    Raises
    ------
    UnknownModel
        An unknown name, parameter or parameter value.
    MissingDependency
        A torch adapter without torch / transformers installed.
    """
    calibration = _calibration(spec)
    if spec.get("name") in TORCH_MODELS:
        config = _torch_config(spec, seed)
        return _torch_class(spec["name"])(n_classes, config)
    cls, defaults = _estimator_class(spec.get("name", "logistic_regression"))
    params = {**defaults, **spec.get("params", {})}
    if "random_state" in _param_names(cls) and "random_state" not in params and not _ignores_random_state(cls, params):
        params["random_state"] = seed
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise UnknownModel(f"bad parameters for {spec.get('name')!r}: {exc}") from None
    return SklearnModel(estimator, n_classes, calibration=calibration, seed=seed)


def check_model(spec: dict[str, Any], n_classes: int) -> None:
    """Raise :class:`UnknownModel` unless ``spec`` builds with valid parameter values.

    Torch adapters are checked without importing torch: their libraries must be installed
    (else :class:`MissingDependency`), and a transformer's base model directory must exist.
    """
    if spec.get("name") in TORCH_MODELS:
        _calibration(spec)
        config = _torch_config(spec, 0)
        _torch.require(*TORCH_MODELS[spec["name"]][3])
        if spec["name"] == "transformer":
            _torch.model_dir(config.path)
        return
    model = build_model(spec, n_classes, seed=0)
    validate = getattr(getattr(model, "template", None), "_validate_params", None)
    if validate is not None:  # scikit-learn checks values (C > 0, ...) only at fit time otherwise
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise UnknownModel(f"bad parameters for {spec.get('name')!r}: {exc}") from None


def load_model(spec: dict[str, Any], n_classes: int, path: Path) -> Model:
    """The fitted adapter that ``model.save(path)`` wrote, for the model ``spec`` names.

    Raises
    ------
    UnknownModel
        An unknown name, or a saved model over a different number of classes.
    MissingDependency
        A torch adapter without torch / transformers installed.
    """
    name = spec.get("name", "logistic_regression")
    if name in TORCH_MODELS:
        model = _torch_class(name).load(Path(path))
    else:
        _estimator_class(name)
        model = SklearnModel.load(Path(path))
    if model.n_classes != n_classes:
        raise UnknownModel(f"saved model {str(path)!r} has {model.n_classes} classes, the project {n_classes}")
    return model
