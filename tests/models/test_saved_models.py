"""Saved model versions stay readable across the move into the ``alloop`` package."""

from __future__ import annotations

import pickle

import numpy as np

from alloop.models import build_model
from alloop.models.sklearn import SklearnModel


def test_a_model_saved_under_the_old_module_names_loads(tmp_path, digits):
    X, y = digits
    model = build_model({"name": "logistic_regression", "params": {"max_iter": 200}}, 10, 0)
    model.fit(X[:200], y[:200])
    old = pickle.dumps(model, protocol=0)  # text opcodes: module paths can be rewritten in place
    assert b"alloop.models.sklearn" in old
    path = tmp_path / "v1"
    path.write_bytes(old.replace(b"calloop.models.sklearn\n", b"cmodels.sklearn\n"))
    assert b"alloop" not in path.read_bytes()
    loaded = SklearnModel.load(path)
    assert np.allclose(loaded.predict_proba(X[200:260]), model.predict_proba(X[200:260]))
