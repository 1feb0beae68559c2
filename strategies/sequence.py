"""Sequence-level strategies for span tagging (``task: "spans"``): scores of whole texts from their
per-token tag probabilities, CRF-free.

A spans project's model gives, for each text, a (units, T) matrix of tag probabilities (one row per word,
:class:`alloop.models.token_tagger.UnitProbs`): ragged across texts, so these strategies live in a table
of their own beside the classification registry, whose strategies read one (n, C) matrix. The texts come
flat: ``probs`` (N, T) stacked over all texts, ``offsets`` (n + 1,) where text ``i`` owns rows
``offsets[i]:offsets[i + 1]``. Higher scores are more informative; the batch is chosen by the shared
:func:`alloop.strategies.base.select_top_k`.

- ``least_confidence_sequence``: 1 - P(best sequence), with the best sequence the most probable tag of
  each token and its probability the product of their probabilities (no CRF: tokens are independent).
  Long texts score high almost whatever the model knows (a product of many numbers below 1).
- ``mnlp`` (default): maximum normalized log-probability, Shen et al. (2017), "Deep Active Learning for
  Named Entity Recognition": minus the mean over tokens of log max-probability, the least confidence
  of the best sequence normalized by its length. The default because it corrects that length bias, and
  Shen et al. found it the best of these on CoNLL and OntoNotes.
- ``token_entropy``: the entropy of each token's tag distribution, summed (``aggregate: "sum"``, favours
  long texts as least confidence does) or averaged (``"mean"``, the default).
- ``random``: a seeded random order (the baseline).

A text without tokens scores 0 under every strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from alloop.strategies.base import select_top_k

__all__ = ["DEFAULT", "SEQUENCE_STRATEGIES", "check", "least_confidence_sequence", "mnlp", "rank_sequences",
           "token_entropy"]

DEFAULT = "mnlp"
_TINY = 1e-12

Scorer = Callable[..., np.ndarray]
SEQUENCE_STRATEGIES: dict[str, tuple[Scorer, dict[str, Any]]] = {}
"""name -> (score(probs, offsets, *, rng, **params) -> (n,), accepted parameters with their defaults)."""


def register(name: str, params: dict[str, Any] | None = None) -> Callable[[Scorer], Scorer]:
    """Decorator: add a sequence strategy to :data:`SEQUENCE_STRATEGIES`."""
    def decorate(fn: Scorer) -> Scorer:
        SEQUENCE_STRATEGIES[name] = (fn, dict(params or {}))
        return fn
    return decorate


def _per_text(values: np.ndarray, offsets: np.ndarray, *, mean: bool) -> np.ndarray:
    """Sums (or means) of per-token ``values`` over each text's rows; 0 for a text without tokens."""
    sizes = np.diff(offsets)
    totals = np.zeros(sizes.size, dtype=np.float64)
    nonempty = sizes > 0
    if values.size:
        totals[nonempty] = np.add.reduceat(values.astype(np.float64), offsets[:-1][nonempty])
    if mean:
        totals[nonempty] /= sizes[nonempty]
    return totals


def _top_log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probs.max(axis=1), _TINY)) if probs.size else np.zeros(0)


@register("least_confidence_sequence")
def least_confidence_sequence(probs: np.ndarray, offsets: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """1 - prod over tokens of max tag probability: how unsure the model is of its best sequence."""
    return 1.0 - np.exp(_per_text(_top_log(probs), offsets, mean=False))


@register("mnlp")
def mnlp(probs: np.ndarray, offsets: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Minus the mean log max tag probability over a text's tokens (Shen et al., 2017)."""
    return -_per_text(_top_log(probs), offsets, mean=True)


@register("token_entropy", {"aggregate": "mean"})
def token_entropy(probs: np.ndarray, offsets: np.ndarray, *, rng: np.random.Generator,
                  aggregate: str = "mean") -> np.ndarray:
    """Tag entropy of each token, summed or averaged over the text (``aggregate``: ``sum`` | ``mean``)."""
    p = probs.astype(np.float64)
    entropy = -(p * np.log(np.maximum(p, _TINY))).sum(axis=1) if p.size else np.zeros(0)
    return _per_text(entropy, offsets, mean=aggregate == "mean")


@register("random")
def random(probs: np.ndarray, offsets: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """A seeded random score per text."""
    return rng.random(offsets.size - 1)


def check(name: str, params: dict[str, Any] | None) -> None:
    """ValueError naming the accepted strategies (or parameters and values) unless ``name`` and ``params`` run."""
    if name not in SEQUENCE_STRATEGIES:
        raise ValueError(f"{name!r} does not rank texts for span labeling; a spans project takes one of "
                         f"{sorted(SEQUENCE_STRATEGIES)} (default {DEFAULT!r})")
    accepted = SEQUENCE_STRATEGIES[name][1]
    unknown = sorted(set(params or {}) - set(accepted))
    if unknown:
        raise ValueError(f"strategy {name!r} does not accept {unknown}; accepted: {sorted(accepted) or 'none'}")
    if name == "token_entropy" and (params or {}).get("aggregate", "mean") not in ("sum", "mean"):
        raise ValueError(f"token_entropy aggregate must be 'sum' or 'mean', got {params['aggregate']!r}")


def rank_sequences(name: str, probs: np.ndarray, offsets: np.ndarray, k: int, *, rng: np.random.Generator,
                   params: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most informative texts, best first: (indices, scores), ties broken by ``rng``."""
    check(name, params)
    fn = SEQUENCE_STRATEGIES[name][0]
    scores = np.asarray(fn(probs, offsets, rng=rng, **(params or {})), dtype=np.float64)
    chosen = select_top_k(scores, k, rng=rng)
    return chosen, scores[chosen]
