"""Committee and Bayesian disagreement over sampled probabilities.

The committee members are the ``S`` rows of ``samples`` (S, n, C): ensemble members,
or MC-dropout passes (Gal et al., 2017, "Deep Bayesian Active Learning with Image
Data"). Every score is computed in row chunks so temporaries stay bounded.

- vote entropy: Dagan & Engelson (1995), "Committee-based sampling for training
  probabilistic classifiers" (modAL ``vote_entropy``, scikit-activeml ``vote_entropy``).
- consensus entropy: entropy of the committee's mean prediction (modAL
  ``consensus_entropy``).
- max disagreement: the largest KL divergence of a member from the consensus
  (modAL ``KL_max_disagreement``).
- average KL: McCallum & Nigam (1998), "Employing EM and pool-based active learning
  for text classification" (scikit-activeml QBC ``method="KL_divergence"``).
- BALD: Houlsby et al. (2011), "Bayesian Active Learning for Classification and
  Preference Learning": mutual information H[mean p] - mean H[p] (small-text ``BALD``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from strategies._linalg import chunk_rows, samples_3d, spans
from strategies.base import StrategyInputs
from strategies.registry import register

__all__ = ["average_kl", "bald", "consensus_entropy", "max_disagreement", "vote_entropy"]

SAMPLES = frozenset({"samples"})


def _xlogx(p: np.ndarray) -> np.ndarray:
    """``p * log(p)`` with 0 log 0 = 0, float64."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def entropy_rows(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis, ``0 log 0 = 0``."""
    return -_xlogx(p).sum(axis=-1)


def _over_chunks(samples: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to ``samples[:, a:b]`` chunks and concatenate the (b - a,) results."""
    s, n, c = samples.shape
    out = np.empty(n, dtype=np.float64)
    for a, b in spans(n, chunk_rows(s * c, itemsize=8)):
        out[a:b] = fn(np.asarray(samples[:, a:b], dtype=np.float64))
    return out


@register("vote_entropy", needs=SAMPLES)
def vote_entropy(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Entropy of the members' hard votes (Dagan & Engelson, 1995).

    Each member votes for its argmax class (first class on exact ties, as
    scikit-learn's ``predict`` does); the score is the entropy of the vote shares.

    Returns
    -------
    (n,) float64, in [0, log min(S, C)].
    """
    samples = samples_3d(inputs.samples)

    def score(chunk: np.ndarray) -> np.ndarray:
        s, n, c = chunk.shape
        votes = chunk.argmax(axis=2)  # (S, n)
        flat = (np.arange(n) * c)[None, :] + votes
        counts = np.bincount(flat.ravel(), minlength=n * c).reshape(n, c)
        return entropy_rows(counts / s)

    return _over_chunks(samples, score)


@register("consensus_entropy", needs=SAMPLES)
def consensus_entropy(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Entropy of the committee's mean prediction (modAL ``consensus_entropy``).

    Returns
    -------
    (n,) float64, H[mean_s p_s].
    """
    samples = samples_3d(inputs.samples)
    return _over_chunks(samples, lambda chunk: entropy_rows(chunk.mean(axis=0)))


def _kl_to_mean(chunk: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """KL(p_s || mean p) for each member: (S, n) float64."""
    if eps > 0:
        chunk = np.clip(chunk, eps, 1.0)
        chunk = chunk / chunk.sum(axis=2, keepdims=True)
    mean = chunk.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(chunk > 0, chunk / np.where(mean > 0, mean, 1.0), 1.0)
        terms = np.where(chunk > 0, chunk * np.log(ratio), 0.0)
    return terms.sum(axis=2)


@register("max_disagreement", needs=SAMPLES)
def max_disagreement(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Largest KL divergence of one member from the consensus (modAL ``KL_max_disagreement``).

    Returns
    -------
    (n,) float64, max_s KL(p_s || mean p).
    """
    samples = samples_3d(inputs.samples)
    return _over_chunks(samples, lambda chunk: _kl_to_mean(chunk).max(axis=0))


@register("average_kl", needs=SAMPLES, params={"eps": 1e-7})
def average_kl(
    inputs: StrategyInputs, *, rng: np.random.Generator, eps: float = 1e-7
) -> np.ndarray:
    """Mean KL divergence of the members from the consensus (McCallum & Nigam, 1998).

    Probabilities are clipped at ``eps`` and renormalised first, as scikit-activeml
    does. Without clipping this equals BALD's mutual information.

    Returns
    -------
    (n,) float64, mean_s KL(p_s || mean p).
    """
    if not 0 < eps <= 0.1:
        raise ValueError(f"eps must be in (0, 0.1], got {eps}")
    samples = samples_3d(inputs.samples)
    return _over_chunks(samples, lambda chunk: _kl_to_mean(chunk, eps).mean(axis=0))


@register("bald", needs=SAMPLES)
def bald(inputs: StrategyInputs, *, rng: np.random.Generator) -> np.ndarray:
    """Mutual information between the label and the model parameters (Houlsby et al., 2011).

    Returns
    -------
    (n,) float64, H[mean_s p_s] - mean_s H[p_s] (nats).
    """
    samples = samples_3d(inputs.samples)

    def score(chunk: np.ndarray) -> np.ndarray:
        return entropy_rows(chunk.mean(axis=0)) - entropy_rows(chunk).mean(axis=0)

    return _over_chunks(samples, score)
