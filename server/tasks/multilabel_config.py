"""What a multi-label project may be configured with; everything else is a 422 at create or PATCH.

- strategy: a multi-label one (:mod:`alloop.strategies.multilabel`), ``random``, or one that reads
  embeddings only; omitted, :data:`DEFAULT_STRATEGY`;
- model: any scikit-learn model (one-vs-rest), ``torch_mlp`` or ``torch_ensemble`` (sigmoid heads);
- target: ``micro_f1``, ``macro_f1`` or ``subset_accuracy`` (:data:`alloop.tasks.multilabel_metrics.TARGETS`);
- no overlap (``labels_per_item`` 1) and no label-error review: both compare single labels.
"""

from __future__ import annotations

from typing import Any

from alloop.tasks.multilabel_metrics import TARGETS

__all__ = ["DEFAULT_STRATEGY", "check_settings", "unsupported"]

DEFAULT_STRATEGY = "mmc"
"""The strategy a multi-label project gets unless it names one: MMC (Yang et al., 2009), the standard
multi-label baseline; on Yeast it beat random on AUBC on 5 of 5 seeds, on the synthetic set it tied
(docs/results.md, "Multi-label"; chosen on those same seeds)."""


def unsupported(fields: dict[str, Any]) -> str | None:
    """What in these settings (a create body's or a PATCH's, as a dict) a multilabel project cannot take; None if all fit."""
    target = fields.get("target")
    if target is not None and target.get("metric") not in TARGETS:
        return (f"target: metric {target.get('metric')!r} does not apply to a multilabel project; "
                f"accepted: {list(TARGETS)}")
    if (fields.get("labels_per_item") or 1) > 1:
        return "labels_per_item: overlap (labels_per_item > 1) is not available for multilabel projects; accepted: 1"
    if fields.get("review") is not None:
        return "review: label-error review is not available for multilabel projects; accepted: null"
    return None


def check_settings(fields: dict[str, Any]) -> None:
    """Raise ValueError naming the first setting a multilabel project cannot take."""
    problem = unsupported(fields)
    if problem is not None:
        raise ValueError(problem)
