"""Every adapter behind the Model protocol: shapes, probabilities, unseen classes, seeds, save/load."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alloop.models import Model, build_model, input_kind, load_model
from alloop.models.registry import TORCH_MODELS

N_CLASSES = 3  # class 2 is never labeled

SPECS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"name": "logistic_regression"},
    "extra_trees": {"name": "extra_trees", "params": {"n_estimators": 20}},
    "svm": {"name": "svm"},
    "torch_mlp": {"name": "torch_mlp", "params": {"hidden": [32], "max_steps": 150}},
    "torch_ensemble": {"name": "torch_ensemble", "params": {"hidden": [32], "members": 3, "max_steps": 150}},
    "transformer": {"name": "transformer", "params": {"epochs": 2, "lr": 1e-3, "batch_size": 8}},
}


@dataclass
class Case:
    spec: dict[str, Any]
    X: Any
    y: np.ndarray
    test: Any

    def build(self, seed: int = 0) -> Model:
        return build_model(self.spec, N_CLASSES, seed)

    def fitted(self, seed: int = 0) -> Model:
        model = self.build(seed)
        model.fit(self.X, self.y)
        return model


@pytest.fixture(params=sorted(SPECS))
def case(request: pytest.FixtureRequest, vectors, texts) -> Case:
    spec = {**SPECS[request.param], "params": dict(SPECS[request.param].get("params", {}))}
    if spec["name"] in TORCH_MODELS:
        pytest.importorskip("torch")
    if spec["name"] == "transformer":
        spec["params"]["path"] = str(request.getfixturevalue("tiny_bert"))
        return Case(spec, *texts)
    return Case(spec, *vectors)


def test_probabilities_have_every_class_and_sum_to_one(case: Case) -> None:
    model = case.fitted()
    assert isinstance(model, Model) and model.input_kind == input_kind(case.spec)
    probs = model.predict_proba(case.test)
    assert probs.shape == (len(case.test), N_CLASSES) and probs.dtype == np.float32
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_class_never_labeled_gets_a_zero_column(case: Case) -> None:
    probs = case.fitted().predict_proba(case.test)
    assert np.all(probs[:, 2] == 0) and np.all(probs[:, :2].sum(axis=1) > 0.99)


def test_a_single_seen_class_is_predicted_with_certainty(case: Case) -> None:
    model = case.build()
    keep = np.flatnonzero(case.y == 1)
    model.fit([case.X[i] for i in keep] if isinstance(case.X, list) else case.X[keep], case.y[keep])
    probs = model.predict_proba(case.test)
    np.testing.assert_allclose(probs[:, 1], 1.0)
    assert np.all(probs[:, [0, 2]] == 0)


def test_an_unfitted_model_predicts_uniformly(case: Case) -> None:
    np.testing.assert_allclose(case.build().predict_proba(case.test), 1.0 / N_CLASSES)


def test_the_same_seed_gives_the_same_model(case: Case) -> None:
    first, second = case.fitted(seed=7), case.fitted(seed=7)
    np.testing.assert_allclose(first.predict_proba(case.test), second.predict_proba(case.test), atol=1e-6)


def test_optional_outputs_have_their_shapes(case: Case) -> None:
    model = case.fitted()
    if hasattr(model, "embed"):
        emb = model.embed(case.test)
        assert emb.ndim == 2 and emb.shape[0] == len(case.test) and emb.dtype == np.float32
    if hasattr(model, "sample_proba"):
        samples = model.sample_proba(case.test, 3)
        assert samples.shape == (3, len(case.test), N_CLASSES) and samples.dtype == np.float32
        np.testing.assert_allclose(samples.sum(axis=2), 1.0, atol=1e-5)
        assert np.all(samples[:, :, 2] == 0)


def test_save_then_load_gives_identical_outputs(case: Case, tmp_path: Path) -> None:
    model = case.fitted()
    model.save(tmp_path / "v1.model")
    loaded = load_model(case.spec, N_CLASSES, tmp_path / "v1.model")
    assert type(loaded) is type(model) and loaded.input_kind == model.input_kind
    np.testing.assert_allclose(loaded.predict_proba(case.test), model.predict_proba(case.test), atol=1e-6)
    for method in ("embed", "sample_proba"):
        if hasattr(model, method):
            before, after = getattr(model, method)(case.test), getattr(loaded, method)(case.test)
            np.testing.assert_allclose(after, before, atol=1e-6)


def test_an_unfitted_model_saves_and_loads(case: Case, tmp_path: Path) -> None:
    case.build().save(tmp_path / "v0.model")
    loaded = load_model(case.spec, N_CLASSES, tmp_path / "v0.model")
    np.testing.assert_allclose(loaded.predict_proba(case.test), 1.0 / N_CLASSES)


@pytest.mark.parametrize("name", ["svm", "logistic_regression", "extra_trees"])
def test_scikit_learn_aliases_use_no_deprecated_parameter(name: str, vectors) -> None:
    X, y, test = vectors
    model = build_model({"name": name}, N_CLASSES, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        model.fit(X, y)
        model.predict_proba(test)
