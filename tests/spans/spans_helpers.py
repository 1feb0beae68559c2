"""The NER test set (tests/data/ner, WNUT-17 sentences) and a spans project body over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


NER = Path(__file__).resolve().parents[1] / "data" / "ner"
TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]


def ner_rows(split: str) -> list[dict[str, Any]]:
    """``{"text", "spans"}`` rows of ``pool`` or ``test``."""
    return [json.loads(line) for line in (NER / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def spans_body(**overrides: Any) -> dict[str, Any]:
    body = {"name": "ner", "labels": TYPES, "task": "spans", "input": "text", "batch_size": 10,
            "retrain_every": 10, "budget": 60, "stabilize": None, "seed": 0,
            "encoder": {"name": "hashing", "params": {"dim": 64}}}
    return {**body, **overrides}
