"""Parameters of the torch adapters, validated without importing torch.

The registry checks a project's ``model.params`` here at creation time (a fast 422 on a
typo), and the adapters read their settings from the frozen dataclasses built here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CNNConfig", "MLPConfig", "TransformerConfig", "cnn_config", "mlp_config", "transformer_config"]


@dataclass(frozen=True)
class MLPConfig:
    """An MLP head (or a deep ensemble of ``members`` of them) over standardized vectors."""

    hidden: tuple[int, ...] = (256,)
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 200
    max_steps: int = 400
    patience: int = 5
    tol: float = 1e-3
    members: int = 1
    n_samples: int = 20
    seed: int = 0


@dataclass(frozen=True)
class TransformerConfig:
    """Fine-tuning a local Hugging Face model; ``path`` None means the bundled all-MiniLM-L6-v2."""

    path: str | None = None
    epochs: int = 3
    lr: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 16
    max_length: int = 128
    n_samples: int = 10
    seed: int = 0


@dataclass(frozen=True)
class CNNConfig:
    """A small CNN trained from scratch on images of ``input_shape`` (channels, height, width): a conv
    block per entry of ``channels`` (3x3 conv, ReLU, 2x2 max pool), then a ``hidden``-wide dense layer
    with dropout. ``input_shape`` None: square gray images, read off the vector length at fit time."""

    channels: tuple[int, ...] = (16, 32)
    hidden: int = 64
    dropout: float = 0.25
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 60
    max_steps: int = 600
    patience: int = 5
    tol: float = 1e-3
    n_samples: int = 20
    seed: int = 0
    input_shape: tuple[int, int, int] | None = None


def _int(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _float(low: float, high: float = float("inf"), *, closed_high: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return low <= v <= high if closed_high else low <= v < high

    return check


def _positive(v: Any) -> bool:
    return _float(0.0)(v) and v > 0


def _channels(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and 0 < len(v) <= 4 and all(_int(1)(c) and c <= 512 for c in v)


def _shape(v: Any) -> bool:
    return v is None or (isinstance(v, (list, tuple)) and len(v) == 3 and v[0] in (1, 3)
                         and all(_int(1)(d) and d <= 512 for d in v))


def _hidden(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and 0 < len(v) <= 8 and all(_int(1)(h) and h <= 65_536 for h in v)


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "hidden": (_hidden, "a list of 1 to 8 positive layer widths"),
    "dropout": (_float(0.0, 1.0), "in [0, 1)"),
    "lr": (_positive, "a positive number"),
    "weight_decay": (_float(0.0), ">= 0"),
    "batch_size": (_int(1), "a positive integer"),
    "max_epochs": (_int(1), "a positive integer"),
    "max_steps": (_int(1), "a positive integer"),
    "patience": (_int(1), "a positive integer"),
    "tol": (_float(0.0), ">= 0"),
    "members": (lambda v: _int(1)(v) and v <= 64, "an integer from 1 to 64"),
    "n_samples": (lambda v: _int(1)(v) and v <= 1000, "an integer from 1 to 1000"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "path": (lambda v: v is None or (isinstance(v, str) and bool(v)), "a local directory"),
    "epochs": (_int(1), "a positive integer"),
    "max_length": (lambda v: _int(2)(v) and v <= 8192, "an integer from 2 to 8192"),
}


_CNN_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "channels": (_channels, "a list of 1 to 4 conv block widths (each 1 to 512)"),
    "hidden": (lambda v: _int(1)(v) and v <= 4096, "an integer from 1 to 4096"),
    "input_shape": (_shape, "[channels (1 or 3), height, width]"),
}


def _build(cls: type, name: str, params: dict[str, Any], fixed: dict[str, Any]) -> Any:
    """``cls(**fixed, **params)`` after checking every key and value; ValueError says what is wrong."""
    known = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    for key, value in params.items():
        if key not in known:
            raise ValueError(f"unknown parameter {key!r} for {name!r}; known: {known}")
        check, expected = (_CNN_CHECKS if cls is CNNConfig and key in _CNN_CHECKS else _CHECKS)[key]
        if not check(value):
            raise ValueError(f"{name} parameter {key!r} must be {expected}, got {value!r}")
    values = {**params, **fixed}
    for key in ("hidden", "channels", "input_shape"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return cls(**values)


def mlp_config(name: str, params: dict[str, Any] | None, seed: int = 0, *, ensemble: bool = False) -> MLPConfig:
    """Checked settings for ``torch_mlp`` (one member) or ``torch_ensemble`` (default 5 members).

    ``seed`` is the project's; a ``seed`` in ``params`` wins over it.
    """
    params = dict(params or {})
    fixed: dict[str, Any] = {} if ensemble else {"members": 1}
    if ensemble:
        params.setdefault("members", 5)
    params.setdefault("seed", seed)
    return _build(MLPConfig, name, params, fixed)


def transformer_config(name: str, params: dict[str, Any] | None, seed: int = 0) -> TransformerConfig:
    """Checked settings for ``transformer``; ``seed`` as in :func:`mlp_config`."""
    params = dict(params or {})
    params.setdefault("seed", seed)
    return _build(TransformerConfig, name, params, {})


def cnn_config(name: str, params: dict[str, Any] | None, seed: int = 0,
               input_shape: list[int] | tuple[int, ...] | None = None) -> CNNConfig:
    """Checked settings for ``cnn``; ``input_shape`` is the project's (the server sets it, not the user)."""
    params = dict(params or {})
    if "input_shape" in params:
        raise ValueError(f"{name}: input_shape follows the project's 'image' settings; set those instead")
    params.setdefault("seed", seed)
    fixed = {} if input_shape is None else {"input_shape": tuple(input_shape)}
    if input_shape is not None and not _shape(list(input_shape)):
        raise ValueError(f"{name}: input_shape must be [channels (1 or 3), height, width], got {input_shape!r}")
    return _build(CNNConfig, name, params, fixed)
