"""What every strategy shares: the inputs bundle and the top-k selector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SeededGenerator", "StrategyInputs", "select_top_k"]


class SeededGenerator:
    """``np.random.default_rng(seed)``, made on first use: a round hands one to its strategy, and most
    rankings draw nothing (margin at batch size 1 draws only on an exact tie), while seeding a
    generator cost 15-45 us, a tenth of a batch-1 round's own work. Every draw is the seeded
    generator's, so results are those of ``default_rng(seed)``. Strategies call its methods;
    :func:`alloop.strategies.rank` hands a plugin the generator itself."""

    __slots__ = ("_seed", "_rng")

    def __init__(self, seed: object) -> None:
        self._seed = seed
        self._rng: np.random.Generator | None = None

    def generator(self) -> np.random.Generator:
        """The seeded generator (made now if not yet)."""
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def __getattr__(self, name: str) -> object:
        return getattr(self.generator(), name)


@dataclass(frozen=True)
class StrategyInputs:
    """The model outputs a strategy may read, all aligned on the candidate pool.

    Attributes
    ----------
    probs : (n, C) float array
        Class probabilities of the current model for each candidate.
    embeddings : (n, d) float array or None
        Candidate embeddings (features, or the model's embedding where it has one).
    labeled_embeddings : (m, d) float array or None
        Embeddings of the already labeled items (core-set and friends start from them).
    samples : (S, n, C) float array or None
        Sampled probabilities (MC dropout passes or ensemble members).
    costs : (n,) float array or None
        Labeling cost of each candidate (cost-aware selection).
    decisions : (n, C) float array or None
        The model's decision values where it ranks by them (an SVM without calibration): margin
        sampling then takes the gap between the top two, the distance to the boundary for two classes.
    labeled_targets : (m, L) 0/1 array or None
        Multi-label projects: the labeled items' label sets, one column per label.
    labeled_probs : (m, L) float array or None
        Multi-label projects: the current model's per-label probabilities on the labeled items.
    """

    probs: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    labeled_embeddings: np.ndarray | None = None
    samples: np.ndarray | None = None
    costs: np.ndarray | None = None
    decisions: np.ndarray | None = None
    labeled_targets: np.ndarray | None = None
    labeled_probs: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of candidates."""
        for array in (self.probs, self.embeddings, self.costs):
            if array is not None:
                return int(array.shape[0])
        if self.samples is not None:
            return int(self.samples.shape[1])
        raise ValueError("StrategyInputs holds no arrays")


def select_top_k(
    scores: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the k highest scores, best first, ties broken at random by ``rng``.

    Uses ``argpartition`` (O(n)) and sorts only the k chosen. NaN scores rank last.

    Parameters
    ----------
    scores : (n,) float array
        Higher means more informative.
    k : int
        How many to choose; more than the candidates left returns them all.
    rng : numpy Generator
        Breaks ties (a random secondary key), so a seed makes the choice repeatable.
    exclude : (n,) bool array or int indices, optional
        Candidates that must not be chosen.

    Returns
    -------
    (min(k, n_left),) int64 array of indices into ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if exclude is None and not np.isnan(scores.sum()):
        candidates, keys = None, scores  # fast path: nothing to drop, no copy
    else:
        keys = np.where(np.isnan(scores), -np.inf, scores)
        if exclude is not None:
            keys[exclude] = np.nan
        candidates = np.flatnonzero(~np.isnan(keys))
        keys = keys[candidates]
    size = keys.size
    k = min(k, size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k == 1 and size > 1:  # the best one (batch size 1): what the general path picks, without its sorts
        tied = np.flatnonzero(keys == keys.max())
        picked = tied if tied.size == 1 else rng.choice(tied, size=1, replace=False)
        return (picked if candidates is None else candidates[picked]).astype(np.int64)
    # Threshold by partition, then break ties among the boundary values with rng.
    if k < size:
        kth = np.partition(keys, size - k)[size - k]
        chosen = np.flatnonzero(keys >= kth)  # ascending: the above and the tied
        tied = keys[chosen] == kth
        above, tied = chosen[~tied], chosen[tied]
        take = rng.choice(tied, size=k - above.size, replace=False) if tied.size else tied
        chosen = np.concatenate([above, np.sort(take)])
    else:
        chosen = np.arange(size)
    tiebreak = rng.random(chosen.size)
    order = np.lexsort((tiebreak, -keys[chosen]))
    picked = chosen[order]
    return (picked if candidates is None else candidates[picked]).astype(np.int64)
