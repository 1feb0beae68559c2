"""Fixtures of the model tests: small vector and text data, a tiny random-weight BERT on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SPAM = [
    "win a free prize now", "free cash claim your prize", "urgent claim free entry now",
    "cheap loans call now", "you won cash call now", "free prize entry text win",
]
HAM = [
    "see you at lunch today", "are we still meeting today", "call me when you get home",
    "thanks for the dinner", "lunch at home today", "see you when you get home",
]
OTHER = ["the weather is cold", "rain and cold weather today"]


@pytest.fixture(scope="session")
def vectors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three gaussian blobs in 16-d (classes 0, 1 labeled; class 2 never labeled): X, y, X_test."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 16))
    y = np.repeat([0, 1], 40)
    X = (centers[y] + rng.normal(size=(80, 16))).astype(np.float32)
    test = (centers[np.repeat([0, 1, 2], 10)] + rng.normal(size=(30, 16))).astype(np.float32)
    return X, y, test


@pytest.fixture(scope="session")
def texts() -> tuple[list[str], np.ndarray, list[str]]:
    """Twenty spam/ham texts labeled 0/1 (class 2 never labeled), and test texts."""
    X = [f"{t} {i}" for i, t in enumerate(SPAM + HAM)] + SPAM[:4] + HAM[:4]
    y = np.array([0] * 6 + [1] * 6 + [0] * 4 + [1] * 4)
    return X, y, SPAM[:3] + HAM[:3] + OTHER


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and a vocabulary of the test texts."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for t in SPAM + HAM + OTHER for w in t.split()} | {str(i) for i in range(20)})
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    config = transformers.BertConfig(
        vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        transformers.BertModel(config).save_pretrained(str(path))
    return path
