"""Task types: what one answer is, how it is checked, and how it is stored.

A project's ``task`` says what a label is:

- ``classification`` (default): one label name per item;
- ``multilabel``: a set of label names per item (:mod:`alloop.tasks.multilabel`);
- ``spans``: character spans of a text, each typed by a label name (:mod:`alloop.tasks.spans`).

Every answer is checked and turned into one canonical string when it arrives (a label, a vote, a
review, an eval item's gold), so the store, overlap, reviews and exports keep one ``label`` column
and compare answers as strings: a classification label is itself, structured answers are compact
JSON in a fixed order (two equal answers give the same string).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TASKS", "canonical_label", "decode_label"]

TASKS = ("classification", "multilabel", "spans")


def canonical_label(task: str, labels: list[str], answer: Any, text: str | None = None) -> str:
    """The stored form of ``answer`` for a project of ``task`` with label names ``labels``.

    ``text`` is the item's text (spans are checked against it). Raises ``ValueError`` saying what
    is wrong; the caller adds where (``labels.3: ...``).
    """
    if task == "classification":
        if not isinstance(answer, str):
            raise ValueError(f"this project's task is classification: a label is one of {labels}, "
                             f"not {type(answer).__name__}")
        if answer not in labels:
            raise ValueError(f"label {answer!r} is not one of {labels}")
        return answer
    if task == "multilabel":
        from alloop.tasks import multilabel

        return multilabel.canonical(labels, answer)
    if task == "spans":  # spans: alloop.tasks.spans
        from alloop.tasks.spans import canonical_spans

        return canonical_spans(labels, answer, text)
    raise ValueError(f"task {task!r} is not one of {list(TASKS)}")


def decode_label(task: str, stored: str) -> Any:
    """The answer a stored label string holds (the inverse of :func:`canonical_label`)."""
    if task == "classification":
        return stored
    if task == "multilabel":
        from alloop.tasks import multilabel

        return multilabel.decode(stored)
    if task == "spans":  # spans: alloop.tasks.spans
        from alloop.tasks.spans import decode_spans

        return decode_spans(stored)
    raise ValueError(f"task {task!r} is not one of {list(TASKS)}")
