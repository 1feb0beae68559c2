"""What a spans project may be configured with, checked at create and PATCH (a 422 naming what is accepted).

A spans project trains a token tagger (``token_tagger``, :mod:`alloop.models.token_tagger`; the default)
and ranks with a sequence strategy (:mod:`alloop.strategies.sequence`; default ``mnlp``). Its target
metric is ``entity_f1``. Not supported (yet): overlap (``labels_per_item`` > 1: a majority over span
sets is not defined here), label-error review (cleanlab ranks class labels) and ``dedup: "propagate"``
(exact duplicates may differ in case and spacing, so a copied span could point at other characters).
"""

from __future__ import annotations

from typing import Any

from alloop.errors import Invalid
from alloop.schemas import ModelSpec, ProjectCreate, ProjectPatch, StrategySpec

__all__ = ["METRICS", "check_create", "check_patch", "check_target"]

METRICS = ("entity_f1",)
"""Target metrics of a spans project (entity-level F1 on the eval split), and of spans projects alone."""


def _check_model(spec: ModelSpec) -> None:
    from alloop.models.tagger_config import tagger_config

    if spec.calibration != "none":
        raise Invalid("model: calibration applies to scikit-learn classifiers, not to a spans project's tagger")
    try:
        tagger_config(spec.name, spec.params)
    except ValueError as exc:
        raise Invalid(f"model: {exc}") from None


def _check_strategy(spec: StrategySpec) -> None:
    from alloop.strategies.sequence import check

    try:
        check(spec.name, spec.params)
    except ValueError as exc:
        raise Invalid(f"strategy: {exc}") from None


def check_target(task: str, target: dict[str, Any] | None) -> None:
    """A spans project's target is ``entity_f1``; a classification project's is never."""
    if target is None:
        return
    if task == "spans" and target["metric"] not in METRICS:
        raise Invalid(f"target: a spans project's target metric is one of {list(METRICS)}, not {target['metric']!r}")
    if task != "spans" and target["metric"] in METRICS:
        raise Invalid(f"target: {target['metric']!r} scores spans projects; this project's task is {task}")


def _unsupported(labels_per_item: int | None, review: Any, dedup: str | None) -> None:
    if labels_per_item is not None and labels_per_item > 1:
        raise Invalid("labels_per_item: a spans project takes one answer per item (1); overlap is not supported")
    if review is not None:
        raise Invalid("review: label-error review is not available for spans projects (null or leave it out)")
    if dedup == "propagate":
        raise Invalid("dedup: 'propagate' copies an answer to exact duplicates, which may differ in case and spacing "
                      "and so in character offsets; a spans project takes 'skip' or 'off'")


def check_create(body: ProjectCreate) -> ProjectCreate:
    """The body with a spans project's defaults filled in (tagger, ``mnlp``), checked; Invalid otherwise."""
    updates: dict[str, Any] = {}
    if "model" not in body.model_fields_set:
        updates["model"] = ModelSpec(name="token_tagger")
    if "strategy" not in body.model_fields_set:
        updates["strategy"] = StrategySpec(name="mnlp")
    body = body.model_copy(update=updates)
    _check_model(body.model)
    _check_strategy(body.strategy)
    check_target("spans", body.target.model_dump() if body.target else None)
    _unsupported(body.labels_per_item, body.review, body.dedup)
    return body


def check_patch(body: ProjectPatch) -> None:
    """Invalid unless a spans project can take these changes."""
    if body.strategy is not None:
        _check_strategy(body.strategy)
    check_target("spans", body.target.model_dump() if body.target else None)
    _unsupported(body.labels_per_item, body.review, body.dedup)
