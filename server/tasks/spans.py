"""Span answers (``task: "spans"``): typed character spans of an item's text.

An answer is a list of ``{start, end, label}`` (characters, ``end`` exclusive), possibly empty ("this
text names no entity"). Each span must lie inside the text (``0 <= start < end <= len(text)``), name one
of the project's entity types, and cover no whitespace at either end (a span is never trimmed
silently: the answer is refused, saying which span to fix). Spans may not overlap: the model tags
each token Begin / Inside / Outside of one type (BIO), which cannot hold a token in two spans.

The stored form is compact JSON, spans sorted by (start, end): ``[{"start":0,"end":4,"label":"person"}]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["as_span", "canonical_spans", "decode_spans"]


def as_span(value: Any, n: int) -> tuple[int, int, str]:
    """``(start, end, label)`` of one span given as :class:`alloop.schemas.SpanIn` or a dict."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, dict) or set(value) != {"start", "end", "label"}:
        raise ValueError(f"spans.{n}: a span is {{start, end, label}}, not {value!r}")
    start, end, label = value["start"], value["end"], value["label"]
    if type(start) is not int or type(end) is not int or not isinstance(label, str):
        raise ValueError(f"spans.{n}: start and end are integers and label a string, not {value!r}")
    return start, end, label


def _check(spans: list[tuple[int, int, str]], labels: Sequence[str], text: str) -> None:
    for n, (start, end, label) in enumerate(spans):
        if not 0 <= start < end <= len(text):
            raise ValueError(f"span {start}-{end} is out of range: spans need 0 <= start < end <= {len(text)} "
                             "(the text's length in characters)")
        if label not in labels:
            raise ValueError(f"span {start}-{end}: entity type {label!r} is not one of {list(labels)}")
        piece = text[start:end]
        if piece != piece.strip():
            raise ValueError(f"span {start}-{end} ({piece!r}) starts or ends with whitespace; "
                             "send the span without it (spans are not trimmed for you)")
    for (s1, e1, l1), (s2, e2, l2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise ValueError(f"spans {s1}-{e1} ({l1}) and {s2}-{e2} ({l2}) overlap; overlapping or nested "
                             "spans are not accepted: the BIO tagging this task's model learns holds one span per token")


def canonical_spans(labels: Sequence[str], answer: Any, text: str | None) -> str:
    """The stored form of a span answer, checked against the item's ``text`` and the entity types."""
    if not isinstance(answer, list):
        raise ValueError(f"this project's task is spans: an answer is a list of {{start, end, label}} "
                         f"(possibly empty), not {type(answer).__name__}")
    if text is None:
        raise ValueError("spans need the item's text, and this item has none")
    spans = sorted((as_span(value, n) for n, value in enumerate(answer)), key=lambda s: (s[0], s[1]))
    _check(spans, labels, text)
    return json.dumps([{"start": s, "end": e, "label": lb} for s, e, lb in spans], separators=(",", ":"))


def decode_spans(stored: str) -> list[dict[str, Any]]:
    """The spans a stored answer holds: ``[{"start", "end", "label"}]`` sorted by start."""
    return json.loads(stored)
