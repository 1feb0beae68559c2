"""The registry's torch names: lazy imports, missing libraries, input kinds, load_model."""

from __future__ import annotations

import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from alloop import models
from alloop.models import MissingDependency, UnknownModel, _torch, build_model, check_model, input_kind, load_model, names


def test_names_list_the_torch_adapters() -> None:
    assert {"torch_mlp", "torch_ensemble", "transformer", "logistic_regression"} <= set(names())


@pytest.mark.parametrize(
    ("spec", "kind"),
    [({"name": "transformer"}, "text"), ({"name": "torch_mlp"}, "vector"), ({}, "vector"),
     ({"name": "sklearn.svm.SVC"}, "vector")],
)
def test_input_kind_needs_no_build(spec: dict, kind: str) -> None:
    assert input_kind(spec) == kind


def test_importing_models_and_checking_specs_does_not_import_torch() -> None:
    code = (
        "import sys; from alloop import models; from alloop.models import registry, configs, encoders;"
        "models.check_model({'name': 'torch_mlp', 'params': {'hidden': [8]}}, 2);"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_spec
    hidden = ("torch", "transformers")
    monkeypatch.setattr(_torch, "find_spec", lambda name: None if name in hidden else real(name))


@pytest.mark.parametrize("name", ["torch_mlp", "torch_ensemble", "transformer"])
def test_missing_torch_names_the_install_command(no_torch: None, name: str) -> None:
    for call in (lambda: check_model({"name": name}, 2), lambda: build_model({"name": name}, 2, 0)):
        with pytest.raises(MissingDependency, match=r"pip install 'alloop\[text\]'"):
            call()


def test_missing_torch_leaves_scikit_learn_models_working(no_torch: None) -> None:
    check_model({"name": "logistic_regression"}, 2)
    assert build_model({"name": "knn"}, 2, 0).input_kind == "vector"


def test_a_missing_transformer_directory_names_the_path(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    with pytest.raises(MissingDependency, match="nowhere"):
        check_model({"name": "transformer", "params": {"path": str(tmp_path / "nowhere")}}, 2)


def test_load_model_refuses_another_label_set(tmp_path: Path, vectors) -> None:
    X, y, _ = vectors
    model = build_model({"name": "logistic_regression"}, 3, 0)
    model.fit(X, y)
    model.save(tmp_path / "m.pkl")
    with pytest.raises(UnknownModel, match="3 classes"):
        load_model({"name": "logistic_regression"}, 4, tmp_path / "m.pkl")
    assert load_model({"name": "logistic_regression"}, 3, tmp_path / "m.pkl").predict_proba(X).shape == (80, 3)


def test_load_model_reads_the_adapter_the_file_holds(tmp_path: Path, vectors) -> None:
    pytest.importorskip("torch")
    model = build_model({"name": "torch_mlp", "params": {"max_steps": 5}}, 3, 0)
    model.fit(*vectors[:2])
    model.save(tmp_path / "m.pt")
    loaded = load_model({"name": "torch_ensemble"}, 3, tmp_path / "m.pt")
    assert loaded.name == "torch_mlp"  # the file says what it holds
    np.testing.assert_allclose(loaded.predict_proba(vectors[2]), model.predict_proba(vectors[2]))


def test_the_public_names_are_exported() -> None:
    public = {"load_model", "input_kind", "build_model", "check_model", "names", "UnknownModel"}
    assert public <= set(models.__all__)
