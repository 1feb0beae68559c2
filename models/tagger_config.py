"""Parameters of the span tagger (:mod:`alloop.models.token_tagger`), checked without importing torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from alloop.models.configs import _CHECKS, _float, _int, _positive

__all__ = ["TAGGER_MODELS", "TaggerConfig", "tagger_config"]

TAGGER_MODELS = ("token_tagger",)
"""The models a spans project may name."""


@dataclass(frozen=True)
class TaggerConfig:
    """Fine-tuning a local transformer as a BIO token tagger; ``path`` None means the bundled all-MiniLM-L6-v2.

    ``train_layers`` of the encoder's top layers are fine-tuned (with the head); the embeddings and the
    layers below stay as they are, which keeps a round cheap on a CPU. ``min_steps`` keeps a small labeled
    set from getting only a handful of updates: the epochs are raised until that many steps run.
    """

    path: str | None = None
    epochs: int = 30
    min_steps: int = 200
    lr: float = 1e-4
    head_lr: float = 1e-2
    weight_decay: float = 0.01
    batch_size: int = 16
    max_length: int = 96
    train_layers: int = 0
    seed: int = 0


_TAGGER_CHECKS = {
    **_CHECKS,
    "min_steps": (_int(0), "an integer >= 0"),
    "head_lr": (_positive, "a positive number"),
    "train_layers": (lambda v: _int(0)(v) and v <= 64, "an integer from 0 to 64"),
    "lr": (lambda v: _float(0.0)(v) and v > 0, "a positive number"),
}


def tagger_config(name: str, params: dict[str, Any] | None, seed: int = 0) -> TaggerConfig:
    """Checked settings; ``seed`` is the project's (a ``seed`` in ``params`` wins). ValueError says what is wrong."""
    if name not in TAGGER_MODELS:
        raise ValueError(f"model {name!r} cannot tag spans; a spans project takes one of {list(TAGGER_MODELS)}")
    params = dict(params or {})
    params.setdefault("seed", seed)
    known = [f.name for f in dataclasses.fields(TaggerConfig)]
    for key, value in params.items():
        if key not in known:
            raise ValueError(f"unknown parameter {key!r} for {name!r}; known: {known}")
        check, expected = _TAGGER_CHECKS[key]
        if not check(value):
            raise ValueError(f"{name} parameter {key!r} must be {expected}, got {value!r}")
    return TaggerConfig(**params)
