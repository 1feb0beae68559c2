"""Entity-level scores of predicted spans against gold spans (exact match of start, end and type).

A predicted entity counts as correct only when a gold one has the same characters and type, as in
CoNLL's and seqeval's entity-level scoring (``seqeval.metrics`` in its default mode over BIO tags gives
the same figures whenever the spans fall on token boundaries; ``tests/spans`` checks it on the NER set).
Scored on characters directly, so no tokenization decides the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["entity_scores"]


def _prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _entities(answers: Sequence[Sequence[dict[str, Any]]]) -> set[tuple[int, int, int, str]]:
    return {(i, s["start"], s["end"], s["label"]) for i, spans in enumerate(answers) for s in spans}


def entity_scores(gold: Sequence[Sequence[dict[str, Any]]], predicted: Sequence[Sequence[dict[str, Any]]],
                  types: Sequence[str]) -> dict[str, Any]:
    """Micro precision, recall and F1 over all entities, and per type (types with gold or predicted entities).

    Returns ``{"entity_precision", "entity_recall", "entity_f1", "per_type": {type: {precision, recall,
    f1, support}}, "eval_size", "eval_entities"}``.
    """
    g, p = _entities(gold), _entities(predicted)
    precision, recall, f1 = _prf(len(g & p), len(p), len(g))
    per_type = {}
    for t in types:
        gt = {e for e in g if e[3] == t}
        pt = {e for e in p if e[3] == t}
        if gt or pt:
            tp_, tr_, tf_ = _prf(len(gt & pt), len(pt), len(gt))
            per_type[t] = {"precision": tp_, "recall": tr_, "f1": tf_, "support": len(gt)}
    return {"entity_precision": precision, "entity_recall": recall, "entity_f1": f1, "per_type": per_type,
            "eval_size": len(gold), "eval_entities": len(g)}
