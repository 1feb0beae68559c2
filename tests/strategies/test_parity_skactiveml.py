"""Parity with scikit-activeml: same selections on random inputs (up to ties)."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_data import make_inputs

from alloop.strategies import StrategyInputs, rank
from alloop.strategies.cold_start import _ball_graph
from alloop.strategies.seeding import BadgeSpace

pytest.importorskip("skactiveml")
from skactiveml.classifier import SklearnClassifier  # noqa: E402
from skactiveml.pool import (  # noqa: E402
    Badge,
    ProbCover,
    TypiClust,
    average_kl_divergence,
    batch_bald,
    k_greedy_center,
    uncertainty_scores,
    vote_entropy,
)
from sklearn.datasets import make_blobs  # noqa: E402

SEEDS = range(4)


def _pool_and_labeled(inputs: StrategyInputs) -> tuple[np.ndarray, np.ndarray]:
    """skactiveml's (X, y): labeled rows first (label 0), then the pool (missing: nan)."""
    x = np.vstack([inputs.labeled_embeddings, inputs.embeddings]).astype(np.float64)
    y = np.full(x.shape[0], np.nan)
    y[: len(inputs.labeled_embeddings)] = 0
    return x, y


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("ours", "method"),
    [("least_confidence", "least_confident"), ("margin", "margin_sampling"), ("entropy", "entropy")],
)
def test_uncertainty_scores_match(ours: str, method: str, seed: int) -> None:
    inputs = make_inputs(300, c=5, seed=seed)
    want = uncertainty_scores(inputs.probs, method=method)
    got, scores = rank(ours, inputs, 30, rng=np.random.default_rng(0))
    assert set(got.tolist()) == set(np.argsort(-want)[:30].tolist())
    if ours != "margin":  # skactiveml's margin utility is 1 - (p1 - p2)
        np.testing.assert_allclose(scores, want[got], rtol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_vote_entropy_and_average_kl_match(seed: int) -> None:
    inputs = make_inputs(200, c=4, s=6, seed=seed)
    votes = inputs.samples.argmax(axis=2).T
    want_ve = vote_entropy(votes, classes=np.arange(4))
    want_kl = average_kl_divergence(inputs.samples.copy())
    for name, want in [("vote_entropy", want_ve), ("average_kl", want_kl)]:
        got, scores = rank(name, inputs, 200, rng=np.random.default_rng(0))
        np.testing.assert_allclose(scores, want[got], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_kcenter_greedy_matches_coreset(seed: int) -> None:
    inputs = make_inputs(200, d=5, m=5, seed=seed)
    x, y = _pool_and_labeled(inputs)
    want, _ = k_greedy_center(x, y, batch_size=20, random_state=0)
    got, _ = rank("kcenter_greedy", inputs, 20, rng=np.random.default_rng(0))
    assert (got + 5).tolist() == want.tolist()


def _badge_trace(inputs: StrategyInputs, picks: list[int]) -> np.ndarray:
    """Our D^2 sampling distributions before each of ``picks`` (k, n)."""
    space = BadgeSpace(inputs.probs, np.asarray(inputs.embeddings, dtype=np.float32))
    d2 = space.norms2.astype(np.float64)
    rows = []
    for pick in picks:
        rows.append(d2 / d2.sum())
        d2 = np.minimum(d2, space.dist2_to(pick, np.empty(d2.size, np.float32)))
        d2[pick] = 0.0
    return np.array(rows)


class _FixedProba:
    """A fitted stand-in classifier returning given probabilities for pool rows."""

    def __init__(self, x: np.ndarray, probs: np.ndarray) -> None:
        self.x, self.probs = x, probs

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = [int(np.flatnonzero((self.x == r).all(axis=1))[0]) for r in x]
        return self.probs[rows]


@pytest.mark.parametrize("seed", SEEDS)
def test_badge_first_pick_and_sampling_distributions_match(seed: int) -> None:
    inputs = make_inputs(80, d=4, c=3, m=0, seed=seed)
    x = np.asarray(inputs.embeddings, dtype=np.float64)
    y = np.full(80, np.nan)
    clf = SklearnClassifier(_Dummy(), classes=np.arange(3))
    clf.predict_proba = _FixedProba(x, inputs.probs).predict_proba  # type: ignore[method-assign]
    want, utilities = Badge(random_state=seed).query(
        x, y, clf, fit_clf=False, batch_size=6, return_utilities=True
    )
    got, _ = rank("badge", inputs, 6, rng=np.random.default_rng(0))
    assert got[0] == want[0]  # argmax gradient norm
    ours = _badge_trace(inputs, list(want))
    np.testing.assert_allclose(ours, np.nan_to_num(utilities), rtol=2e-3, atol=1e-6)


class _Dummy:
    """Estimator placeholder for SklearnClassifier (never fitted: fit_clf=False)."""

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Dummy:
        return self


@pytest.mark.parametrize("seed", SEEDS)
def test_batchbald_matches_exact(seed: int) -> None:
    inputs = make_inputs(40, c=3, s=5, seed=seed)
    utilities = batch_bald(inputs.samples.copy(), batch_size=4, n_MC_samples=1000, random_state=0)
    got, gains = rank(
        "batchbald", inputs, 4, rng=np.random.default_rng(0), params={"max_configs": 1000}
    )
    assert got.tolist() == np.nanargmax(utilities, axis=1).tolist()
    np.testing.assert_allclose(gains, utilities[np.arange(4), got], rtol=1e-4)


def _blobs(seed: int, labeled: int) -> StrategyInputs:
    sizes = [40, 34, 28, 22, 16, 10]
    x, _ = make_blobs(sizes, centers=np.eye(6) * 60, cluster_std=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    lab = x[rng.choice(len(x), labeled, replace=False)] if labeled else np.empty((0, 6))
    return StrategyInputs(embeddings=x.astype(np.float32), labeled_embeddings=lab.astype(np.float32))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("labeled", [0, 2])
def test_typiclust_matches_on_separated_clusters(seed: int, labeled: int) -> None:
    inputs = _blobs(seed, labeled=labeled)
    x, y = _pool_and_labeled(inputs)
    want = TypiClust(k=5, random_state=seed).query(x, y, batch_size=6 - labeled)
    got, _ = rank(
        "typiclust", inputs, 6 - labeled, rng=np.random.default_rng(0), params={"n_neighbors": 5}
    )
    assert (got + labeled).tolist() == list(want)


@pytest.mark.parametrize("seed", SEEDS)
def test_probcover_coverage_utilities_match(seed: int) -> None:
    inputs = make_inputs(120, d=3, m=4, seed=seed)
    x, y = _pool_and_labeled(inputs)
    delta = 0.9
    with pytest.warns(UserWarning, match="purity"):  # skactiveml warns for a single delta
        want, utilities = ProbCover(deltas=[delta], random_state=seed).query(
            x, y, batch_size=8, return_utilities=True
        )
    edges = _ball_graph(np.asarray(inputs.embeddings), delta)
    lab_d = np.linalg.norm(x[4:, None, :] - x[None, :4, :], axis=2)
    covered = (lab_d <= delta).any(axis=1)
    for step, pick in enumerate(np.asarray(want) - 4):  # replay their picks on our graph
        degree = edges[:, ~covered].sum(axis=1).astype(float)
        expected = utilities[step, 4:]
        free = ~np.isnan(expected)
        np.testing.assert_array_equal(degree[free], expected[free])
        covered |= edges[pick]
    got, _ = rank("probcover", inputs, 8, rng=np.random.default_rng(0), params={"delta": delta})
    first_best = np.flatnonzero(utilities[0, 4:] == np.nanmax(utilities[0]))
    assert got[0] in first_best
