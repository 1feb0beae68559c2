"""BIO tags over a tokenizer's words: character spans to tags and back, CRF-free.

A text's *units* are the first sub-word token of each word the tokenizer's pre-tokenizer made
(``word_ids``); each unit stands for its whole word, from its first token's start to its last token's
end (characters). A span tags the units whose word starts inside it: the first ``B-type``, the rest
``I-type``; the other sub-word tokens are ignored in training (first-subword labeling). Decoding turns
runs of ``B-x I-x ...`` back into the characters from the first word's start to the last word's end,
and repairs what a CRF-free tagger may emit: an ``I-x`` that follows neither ``B-x`` nor ``I-x`` starts a
span as if it were ``B-x``. So a span whose ends fall on word boundaries survives the round trip
exactly; one that cuts a word grows to the whole word.

Tag ids: 0 is ``O``; type ``k`` (its position in the project's labels) is ``B`` at ``1 + 2k`` and ``I``
at ``2 + 2k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Units", "decode_tags", "encode_tags", "tag_names", "units"]


def tag_names(types: Sequence[str]) -> list[str]:
    """``["O", "B-t0", "I-t0", "B-t1", ...]``: the tag at each id."""
    return ["O", *[f"{p}-{t}" for t in types for p in ("B", "I")]]


class Units:
    """One text's units: the token position of each, and its word's character extent."""

    __slots__ = ("tokens", "starts", "ends")

    def __init__(self, tokens: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        self.tokens, self.starts, self.ends = tokens, starts, ends

    def __len__(self) -> int:
        return int(self.tokens.size)


def units(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]) -> Units:
    """The units of one tokenized text from its tokens' character ``offsets`` and ``word_ids`` (None for
    special tokens); tokens with an empty offset (padding) belong to no word."""
    tokens: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    previous = None
    for position, (word, (start, end)) in enumerate(zip(word_ids, offsets)):
        if word is None or end <= start:
            continue
        if word != previous:
            tokens.append(position)
            starts.append(start)
            ends.append(end)
            previous = word
        else:
            ends[-1] = max(ends[-1], end)
    return Units(np.asarray(tokens, dtype=np.int64), np.asarray(starts, dtype=np.int64),
                 np.asarray(ends, dtype=np.int64))


def encode_tags(unit: Units, spans: Sequence[dict[str, Any]], types: Sequence[str]) -> np.ndarray:
    """(len(unit),) int64 tag ids of one text's units under its ``spans`` (``{start, end, label}``)."""
    tags = np.zeros(len(unit), dtype=np.int64)
    position = {t: k for k, t in enumerate(types)}
    for span in spans:
        inside = np.flatnonzero((unit.starts >= span["start"]) & (unit.starts < span["end"]))
        if inside.size:
            k = position[span["label"]]
            tags[inside] = 2 + 2 * k
            tags[inside[0]] = 1 + 2 * k
    return tags


def decode_tags(tags: Sequence[int] | np.ndarray, unit: Units, types: Sequence[str]) -> list[dict[str, Any]]:
    """The spans that a text's unit tags name (an ``I-x`` after anything but ``B-x``/``I-x`` starts one)."""
    spans: list[dict[str, Any]] = []
    open_type = -1  # the type of the span the previous unit belongs to, -1 for none
    for i, tag in enumerate(int(t) for t in tags):
        if tag == 0:
            open_type = -1
            continue
        k, inside = (tag - 1) // 2, tag % 2 == 0
        if inside and k == open_type:
            spans[-1]["end"] = int(unit.ends[i])
        else:
            spans.append({"start": int(unit.starts[i]), "end": int(unit.ends[i]), "label": types[k]})
            open_type = k
    return spans
