"""The torch MLP heads: learning, MC dropout, ensemble diversity, parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alloop.models import UnknownModel, build_model, check_model

pytest.importorskip("torch")

SMALL = {"hidden": [32], "max_steps": 150}


def fitted(name: str, vectors, seed: int = 0, **params: Any):
    X, y, _ = vectors
    model = build_model({"name": name, "params": {**SMALL, **params}}, 3, seed)
    model.fit(X, y)
    return model


@pytest.mark.parametrize("name", ["torch_mlp", "torch_ensemble"])
def test_the_heads_learn_separable_blobs(name: str, vectors) -> None:
    X, y, test = vectors
    model = fitted(name, vectors)
    assert np.mean(model.predict_proba(X).argmax(axis=1) == y) == 1.0
    assert np.mean(model.predict_proba(test[:20]).argmax(axis=1) == np.repeat([0, 1], 10)) >= 0.9


def test_mc_dropout_passes_differ_and_repeat(vectors) -> None:
    model = fitted("torch_mlp", vectors, dropout=0.5)
    samples = model.sample_proba(vectors[2], 8)
    assert samples.shape == (8, 30, 3)
    assert not np.allclose(samples[0], samples[1])
    assert len({samples[i].tobytes() for i in range(8)}) == 8
    np.testing.assert_array_equal(samples, model.sample_proba(vectors[2], 8))


def test_mc_dropout_defaults_to_n_samples_passes(vectors) -> None:
    model = fitted("torch_mlp", vectors, n_samples=5)
    assert model.sample_proba(vectors[2]).shape == (5, 30, 3)


def test_ensemble_members_differ_and_average_to_predict_proba(vectors) -> None:
    model = fitted("torch_ensemble", vectors, members=4)
    members = model.sample_proba(vectors[2])
    assert members.shape == (4, 30, 3)
    assert all(not np.allclose(members[0], members[i]) for i in range(1, 4))
    np.testing.assert_allclose(members.mean(axis=0), model.predict_proba(vectors[2]), atol=1e-6)
    assert model.sample_proba(vectors[2], 2).shape == (2, 30, 3)


def test_different_seeds_give_different_models(vectors) -> None:
    first, second = fitted("torch_mlp", vectors, seed=1), fitted("torch_mlp", vectors, seed=2)
    assert not np.allclose(first.predict_proba(vectors[2]), second.predict_proba(vectors[2]))


def test_embed_is_the_last_hidden_layer(vectors) -> None:
    model = fitted("torch_mlp", vectors, hidden=[24, 8])
    emb = model.embed(vectors[2])
    assert emb.shape == (30, 8) and emb.dtype == np.float32 and np.all(emb >= 0)  # after ReLU


def test_read_only_memory_mapped_inputs_work(vectors, tmp_path) -> None:
    X, y, test = vectors
    np.save(tmp_path / "x.npy", test)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = fitted("torch_mlp", vectors)
    np.testing.assert_allclose(model.predict_proba(mapped), model.predict_proba(test))


def test_constant_features_do_not_break_standardization(vectors) -> None:
    X, y, test = vectors
    X = np.hstack([X, np.ones((X.shape[0], 1), dtype=np.float32)])
    model = build_model({"name": "torch_mlp", "params": SMALL}, 3, 0)
    model.fit(X, y)
    assert np.all(np.isfinite(model.predict_proba(np.hstack([test, np.zeros((30, 1), np.float32)]))))


def test_an_unfitted_head_cannot_embed(vectors) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        build_model({"name": "torch_mlp"}, 3, 0).embed(vectors[2])


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("torch_mlp", {"members": 3}, "unknown parameter 'members'"),
        ("torch_mlp", {"hiden": [8]}, "unknown parameter 'hiden'"),
        ("torch_mlp", {"hidden": []}, "'hidden' must be"),
        ("torch_mlp", {"hidden": [0]}, "'hidden' must be"),
        ("torch_mlp", {"dropout": 1.0}, "'dropout' must be in"),
        ("torch_mlp", {"lr": 0}, "'lr' must be"),
        ("torch_mlp", {"batch_size": True}, "'batch_size' must be"),
        ("torch_ensemble", {"members": 0}, "'members' must be"),
        ("torch_ensemble", {"n_samples": 1.5}, "'n_samples' must be"),
        ("transformer", {"epochs": 0}, "'epochs' must be"),
        ("transformer", {"max_length": 1}, "'max_length' must be"),
        ("transformer", {"hidden": [8]}, "unknown parameter 'hidden'"),
    ],
)
def test_bad_parameters_are_unknown_model_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(UnknownModel, match=message):
        check_model({"name": name, "params": params}, 3)
    with pytest.raises(UnknownModel, match=message):
        build_model({"name": name, "params": params}, 3, 0)
