"""Multi-label answers: a set of the project's labels per item, possibly empty ("none apply").

An answer arrives as a JSON list of label names. Its stored form is compact JSON of the same names in
the project's label order (``["b","d"]``, ``[]``), so two equal sets are equal strings: overlap votes,
reviews, duplicate propagation and idempotent replays compare answers as strings, as for classification.
The loop reads labels as an (n, L) 0/1 matrix (:func:`target_matrix`), one column per label.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["canonical", "decode", "encode", "target_matrix", "label_sets"]


def canonical(labels: Sequence[str], answer: Any) -> str:
    """The stored form of a multi-label ``answer`` (a list of distinct names from ``labels``).

    Raises ``ValueError`` naming what is wrong: not a list, a non-string entry, an unknown name, a repeat.
    """
    if not isinstance(answer, list):
        raise ValueError(f"this project's task is multilabel: an answer is a list of labels from {list(labels)} "
                         f"(possibly empty: none apply), not {type(answer).__name__}")
    known = set(labels)
    seen: set[str] = set()
    for entry in answer:
        if not isinstance(entry, str):
            raise ValueError(f"a multilabel answer lists label names from {list(labels)}; got {entry!r}")
        if entry not in known:
            raise ValueError(f"label {entry!r} is not one of {list(labels)}")
        if entry in seen:
            raise ValueError(f"label {entry!r} appears more than once in one answer; a label set names each once")
        seen.add(entry)
    return encode([name for name in labels if name in seen])


def encode(names: Iterable[str]) -> str:
    """Compact JSON of names already in the project's label order."""
    return json.dumps(list(names), separators=(",", ":"), ensure_ascii=False)


def decode(stored: str) -> list[str]:
    """The label names a stored answer holds."""
    value = json.loads(stored)
    if not isinstance(value, list):
        raise ValueError(f"stored multilabel answer {stored!r} is not a list")
    return value


def target_matrix(labels: Sequence[str], stored: Sequence[str]) -> np.ndarray:
    """(len(stored), len(labels)) int8 0/1 matrix: row i marks the labels of answer ``stored[i]``."""
    position = {name: j for j, name in enumerate(labels)}
    out = np.zeros((len(stored), len(labels)), dtype=np.int8)
    for i, answer in enumerate(stored):
        for name in decode(answer):
            out[i, position[name]] = 1
    return out


def label_sets(labels: Sequence[str], Y: np.ndarray) -> list[list[str]]:
    """The label names of each row of an (n, L) 0/1 (or boolean) matrix."""
    Y = np.asarray(Y, dtype=bool)
    return [[labels[j] for j in np.flatnonzero(row)] for row in Y]
