"""Label Studio and spans projects: ``<Labels>`` regions to and from alloop's span answers.

A Label Studio span annotation is a list of ``labels`` regions, each ``value: {start, end, text, labels: [type]}``
(characters of the task's ``$text``); an annotation with no region says the text names no entity. The
labeling config alloop writes selects by whole words (``granularity="word"``), so a selection never ends in
whitespace, which alloop refuses rather than trims.
"""

from __future__ import annotations

from typing import Any

__all__ = ["annotation_spans", "span_regions"]


def annotation_spans(annotation: dict[str, Any], from_name: str | None = None) -> list[dict[str, Any]]:
    """The spans of an annotation's ``labels`` regions (of control ``from_name`` when given), one per region
    and label; checked later like any answer (:func:`alloop.tasks.canonical_label`)."""
    spans = []
    for region in annotation.get("result") or []:
        if not isinstance(region, dict) or region.get("type") != "labels":
            continue
        if from_name is not None and region.get("from_name") != from_name:
            continue
        value = region.get("value") or {}
        for label in value.get("labels") or []:
            spans.append({"start": value.get("start"), "end": value.get("end"), "label": label})
    return spans


def span_regions(from_name: str, to_name: str, spans: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """Label Studio prediction regions of predicted ``spans`` over ``text``."""
    return [{"from_name": from_name, "to_name": to_name, "type": "labels",
             "value": {"start": s["start"], "end": s["end"], "labels": [s["label"]],
                       **({"text": text[s["start"]:s["end"]]} if text is not None else {})}} for s in spans]
