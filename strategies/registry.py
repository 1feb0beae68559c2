"""One registry for built-in and plugin strategies.

Two kinds live here. A *pointwise* strategy scores each candidate on its own,
``score(inputs, *, rng, **params) -> (n,)`` (higher is more informative), and the
shared :func:`alloop.strategies.base.select_top_k` picks the batch. A *batch* strategy
chooses the whole batch itself, ``select(inputs, k, *, rng, **params) -> (indices,
scores)``, for diversity-aware selection. The registry records the kind and what
inputs each needs, so the loop never special-cases one strategy.

Plugins register through the ``alloop.strategies`` entry-point group: each entry
point names a callable that receives :func:`register` and registers its strategies.
They are loaded lazily, the first time a name is looked up and not found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Literal

import numpy as np

from alloop.strategies._linalg import one_blas_thread
from alloop.strategies.base import SeededGenerator, StrategyInputs, select_top_k

__all__ = [
    "Strategy",
    "UnknownStrategy",
    "check_task",
    "for_task",
    "get",
    "names",
    "rank",
    "register",
    "score",
    "unregister",
]

Kind = Literal["pointwise", "batch"]
INPUTS = frozenset({"probs", "embeddings", "labeled_embeddings", "samples", "costs", "labeled_targets", "labeled_probs"})
TASKS = ("classification", "multilabel")
"""Project tasks a strategy can serve (:mod:`alloop.tasks`); see :func:`register`'s ``tasks``."""
MODEL_OUTPUTS = frozenset({"probs", "samples"})
_BUILTIN_MODULES = (
    "alloop.strategies.random",
    "alloop.strategies.uncertainty",
    "alloop.strategies.committee",
    "alloop.strategies.batchbald",
    "alloop.strategies.coreset",
    "alloop.strategies.seeding",
    "alloop.strategies.cold_start",
    "alloop.strategies.hybrid",
    "alloop.strategies.cost",
    "alloop.strategies.multilabel",
)


class UnknownStrategy(KeyError):
    """A strategy name nobody registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its callable, kind, and the inputs it reads."""

    name: str
    kind: Kind
    fn: Callable[..., Any]
    needs: frozenset[str] = frozenset({"probs"})
    summary: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    wraps: tuple[str, ...] = ()
    """Parameters that name another strategy (``base``, ``diversify``); its inputs are needed too."""
    tasks: tuple[str, ...] = TASKS
    """The project tasks it ranks for: what its ``probs`` mean (one distribution over classes, or one
    probability per label)."""


_REGISTRY: dict[str, Strategy] = {}
_loaded = {"builtins": False, "plugins": False}


def register(
    name: str,
    *,
    kind: Kind = "pointwise",
    needs: frozenset[str] | set[str] = frozenset({"probs"}),
    params: dict[str, Any] | None = None,
    wraps: tuple[str, ...] = (),
    tasks: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers ``fn`` under ``name``.

    ``tasks``: the project tasks it serves (:data:`TASKS`); omitted, a strategy that reads model
    outputs (``probs``, ``samples``) serves classification (its probabilities are one distribution
    over classes) and one that reads neither (random, embeddings only) serves every task.

    ``params`` maps each accepted keyword parameter to its default, so configuration
    can be validated before a campaign starts. ``wraps`` names the parameters that hold
    another strategy's name (with its parameters in ``<param>_params`` when accepted), so
    :func:`needs` can tell what a configured strategy reads.
    """
    unknown = set(needs) - INPUTS
    if unknown:
        raise ValueError(f"unknown strategy inputs {sorted(unknown)}; known: {sorted(INPUTS)}")
    if tasks is None:
        tasks = ("classification",) if MODEL_OUTPUTS & set(needs) or wraps else TASKS
    if set(tasks) - set(TASKS):
        raise ValueError(f"unknown tasks {sorted(set(tasks) - set(TASKS))}; known: {list(TASKS)}")
    missing = [key for key in wraps if key not in (params or {})]
    if missing:
        raise ValueError(f"wraps names {missing}, which are not among the parameters")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Strategy(
            name=name,
            kind=kind,
            fn=fn,
            needs=frozenset(needs),
            summary=doc[0] if doc else "",
            params=dict(params or {}),
            wraps=tuple(wraps),
            tasks=tuple(tasks),
        )
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (plugins and tests); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    if not _loaded["builtins"]:
        _loaded["builtins"] = True
        for module in _BUILTIN_MODULES:
            import_module(module)


def _load_plugins() -> None:
    if not _loaded["plugins"]:
        _loaded["plugins"] = True
        for entry in entry_points(group="alloop.strategies"):
            entry.load()(register)


def names() -> list[str]:
    """Every registered strategy name, sorted (built-ins and installed plugins)."""
    _load_builtins()
    _load_plugins()
    return sorted(_REGISTRY)


def for_task(task: str) -> list[str]:
    """The registered strategy names that rank for projects of ``task``, sorted."""
    return [name for name in names() if task in _REGISTRY[name].tasks]


def check_task(name: str, task: str) -> None:
    """Raise ValueError unless strategy ``name`` ranks for ``task`` projects; the message lists those that do."""
    if task not in get(name).tasks:
        raise ValueError(f"strategy {name!r} does not rank {task} projects; accepted: {', '.join(for_task(task))}")


def get(name: str) -> Strategy:
    """The strategy registered as ``name``; :class:`UnknownStrategy` lists the known ones."""
    _load_builtins()
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]


def check_params(strategy: Strategy, params: dict[str, Any]) -> None:
    """Raise ValueError naming any parameter the strategy, or a strategy it wraps, does not accept.

    A wrapped strategy's own parameters (``then_params`` of ``tcm``) are checked against
    it, so a typo fails when the campaign is configured, not at its first ranking.
    """
    unknown = set(params) - set(strategy.params)
    if unknown:
        accepted = ", ".join(sorted(strategy.params)) or "none"
        raise ValueError(
            f"strategy {strategy.name!r} does not accept {sorted(unknown)}; accepted: {accepted}"
        )
    for inner, inner_params in _wrapped(strategy, params):
        check_params(get(inner), inner_params)


def _wrapped(strategy: Strategy, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each strategy ``strategy`` wraps as configured by ``params``: its name and its own parameters."""
    for key in strategy.wraps:
        inner = params.get(key, strategy.params[key])
        inner_params = params.get(f"{key}_params")
        if inner is None:
            continue
        if inner_params is not None and not isinstance(inner_params, dict):
            raise ValueError(f"{strategy.name}: {key}_params must be an object, got {inner_params!r}")
        yield inner, inner_params or {}


def needs(name: str, params: dict[str, Any] | None = None) -> frozenset[str]:
    """Every input strategy ``name`` reads when configured with ``params``, wrapped strategies included.

    ``prefilter`` with ``diversify="badge"`` reads embeddings although ``prefilter`` itself
    declares none; a campaign must hand over what the whole configuration reads.
    """
    strategy = get(name)
    params = params or {}
    found = set(strategy.needs)
    for inner, inner_params in _wrapped(strategy, params):
        found |= needs(inner, inner_params)
    return frozenset(found)


def _check_needs(strategy: Strategy, inputs: StrategyInputs) -> None:
    missing = [need for need in sorted(strategy.needs) if getattr(inputs, need) is None]
    if missing:
        raise ValueError(
            f"strategy {strategy.name!r} needs {missing}, which the model did not provide"
        )


def _for(strategy: Strategy, rng: np.random.Generator | SeededGenerator) -> np.random.Generator | SeededGenerator:
    """``rng`` as ``strategy`` takes it: the built-in strategies draw through a :class:`SeededGenerator`
    (seeded only if they draw), a plugin gets the numpy generator itself."""
    if isinstance(rng, SeededGenerator) and not strategy.fn.__module__.startswith("alloop."):
        return rng.generator()
    return rng


def score(
    name: str,
    inputs: StrategyInputs,
    *,
    rng: np.random.Generator,
    params: dict[str, Any] | None = None,
) -> np.ndarray:
    """Scores (n,) of pointwise strategy ``name`` (for strategies built on another one).

    Raises
    ------
    ValueError
        If ``name`` is a batch strategy, a parameter is unknown or an input is missing.
    """
    strategy = get(name)
    if strategy.kind != "pointwise":
        raise ValueError(f"strategy {name!r} is a batch strategy; a pointwise one is needed here")
    params = dict(params or {})
    check_params(strategy, params)
    _check_needs(strategy, inputs)
    rng = _for(strategy, rng)
    with one_blas_thread():
        scores = np.asarray(strategy.fn(inputs, rng=rng, **params), dtype=np.float64)
    if scores.shape != (inputs.n,):
        raise ValueError(f"strategy {name!r} returned shape {scores.shape}, expected ({inputs.n},)")
    return scores


def rank(
    name: str,
    inputs: StrategyInputs,
    k: int,
    *,
    rng: np.random.Generator,
    params: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose up to ``k`` candidates with strategy ``name``, best first.

    Returns
    -------
    indices : (m,) int64 array, m = min(k, n), no repeats
    scores : (m,) float64 array, the strategy's score of each chosen candidate
    """
    strategy = get(name)
    params = dict(params or {})
    check_params(strategy, params)
    _check_needs(strategy, inputs)
    rng = _for(strategy, rng)
    with one_blas_thread():  # see alloop.strategies._linalg.one_blas_thread
        if strategy.kind == "pointwise":
            scores = np.asarray(strategy.fn(inputs, rng=rng, **params), dtype=np.float64)
            chosen = select_top_k(scores, k, rng=rng)
            return chosen, scores[chosen]
        indices, scores = strategy.fn(inputs, k, rng=rng, **params)
    return np.asarray(indices, dtype=np.int64), np.asarray(scores, dtype=np.float64)
