"""A dependency-free text encoder: hashed word and bigram counts, L2-normalized.

It needs no model files and no torch, so text campaigns work on a bare install; the
sentence encoder (``all-MiniLM-L6-v2``, the ``text`` extra) is the better default
wherever it is installed.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

__all__ = ["HashingEncoder"]


class HashingEncoder:
    """``encode(texts) -> (n, dim)`` float32 via scikit-learn's HashingVectorizer (no fitting, no state)."""

    def __init__(self, dim: int = 1024) -> None:
        if not 16 <= dim <= 65_536:
            raise ValueError(f"hashing encoder dim must be between 16 and 65536, got {dim}")
        self.name = "hashing"
        self.dim = dim
        self._vectorizer = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=False, norm="l2")

    def encode(self, texts: list[str], batch_size: int = 1024) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalized rows."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            out[start : start + batch_size] = self._vectorizer.transform(texts[start : start + batch_size]).toarray()
        return out
