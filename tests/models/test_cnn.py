"""The small CNN (``cnn``): learns images from scratch, seeded and repeatable on the CPU, MC dropout,
embeddings, save / load, and its parameters checked at creation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from alloop.models import UnknownModel, build_model, check_model, gives_samples, input_kind, load_model

pytest.importorskip("torch")

SPEC = {"name": "cnn", "input_shape": [1, 8, 8]}


@pytest.fixture(scope="module")
def pictures() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn digits as (n, 64) pixel rows in [0, 1]: 300 to train on, 500 held out."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:300], y[:300], X[1000:1500], y[1000:1500]


def test_the_cnn_reads_images_and_gives_samples() -> None:
    assert input_kind({"name": "cnn"}) == "image" and gives_samples({"name": "cnn"})


def test_it_learns_digits_from_scratch_and_beats_a_linear_model(pictures) -> None:
    X, y, X_test, y_test = pictures
    cnn = build_model(SPEC, 10, seed=0)
    cnn.fit(X, y)
    probs = cnn.predict_proba(X_test)
    assert probs.shape == (500, 10) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(probs.argmax(axis=1) == y_test) > 0.85


def test_a_seed_repeats_the_fit_and_another_seed_does_not(pictures) -> None:
    X, y, X_test, _ = pictures
    runs = []
    for seed in (3, 3, 4):
        model = build_model(SPEC, 10, seed=seed)
        model.fit(X[:120], y[:120])
        runs.append(model.predict_proba(X_test))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_unseen_classes_get_zero_columns_and_one_class_predicts_it(pictures) -> None:
    X, y, X_test, _ = pictures
    seen = np.isin(y, [0, 1, 2])
    model = build_model(SPEC, 10, seed=0)
    model.fit(X[seen], y[seen])
    probs = model.predict_proba(X_test)
    assert np.all(probs[:, 3:] == 0)
    lone = build_model(SPEC, 10, seed=0)
    lone.fit(X[y == 4], y[y == 4])
    assert np.all(lone.predict_proba(X_test).argmax(axis=1) == 4)
    empty = build_model(SPEC, 10, seed=0)
    empty.fit(X[:0], y[:0])
    assert np.allclose(empty.predict_proba(X_test[:3]), 0.1)


def test_mc_dropout_samples_differ_between_passes_and_repeat_between_calls(pictures) -> None:
    X, y, X_test, _ = pictures
    model = build_model({**SPEC, "params": {"n_samples": 7}}, 10, seed=0)
    model.fit(X, y)
    first, again = model.sample_proba(X_test[:40]), model.sample_proba(X_test[:40])
    assert first.shape == (7, 40, 10) and np.array_equal(first, again)
    assert first.std(axis=0).max() > 1e-3
    assert np.array_equal(model.predict_proba(X_test[:40]), model.predict_proba(X_test[:40]))


def test_embed_and_save_load_round_trip(pictures, tmp_path: Path) -> None:
    X, y, X_test, _ = pictures
    model = build_model({**SPEC, "params": {"hidden": 24}}, 10, seed=0)
    model.fit(X[:100], y[:100])
    assert model.embed(X_test[:5]).shape == (5, 24)
    model.save(tmp_path / "v1")
    loaded = load_model({"name": "cnn"}, 10, tmp_path / "v1")
    assert np.array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    assert np.array_equal(loaded.sample_proba(X_test[:10], 3), model.sample_proba(X_test[:10], 3))
    with pytest.raises(UnknownModel, match="10 classes, the project 4"):
        load_model({"name": "cnn"}, 4, tmp_path / "v1")


def test_rgb_and_non_square_images_and_a_shape_read_off_square_rows() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.random((40, 3, 6, 10)).astype(np.float32) * 0.2
    X[y == 1, 0] += 0.8  # class 1 is red
    model = build_model({"name": "cnn", "input_shape": [3, 6, 10]}, 2, seed=0)
    model.fit(X.reshape(40, -1), y)
    assert np.mean(model.predict_proba(X.reshape(40, -1)).argmax(axis=1) == y) == 1.0
    square = build_model({"name": "cnn"}, 2, seed=0)  # no shape: square gray rows (alloop simulate on MNIST)
    square.fit(rng.random((10, 49)).astype(np.float32), np.repeat([0, 1], 5))
    with pytest.raises(ValueError, match="not square gray images"):
        build_model({"name": "cnn"}, 2, seed=0).fit(rng.random((10, 50)).astype(np.float32), np.repeat([0, 1], 5))


@pytest.mark.parametrize(("params", "message"), [
    ({"channels": []}, "conv block widths"),
    ({"channels": [8, 0]}, "conv block widths"),
    ({"hidden": 0}, "from 1 to 4096"),
    ({"dropout": 1.0}, "in [0, 1)"),
    ({"filters": 3}, "unknown parameter 'filters'"),
    ({"input_shape": [1, 8, 8]}, "input_shape follows the project"),
])
def test_bad_parameters_are_unknown_model_errors(params: dict, message: str) -> None:
    with pytest.raises(UnknownModel, match=message.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        check_model({**SPEC, "params": params}, 10)
