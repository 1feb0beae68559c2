"""Parity with small-text: same selections on random inputs (up to ties)."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_data import make_inputs

from alloop.strategies import StrategyInputs, rank

pytest.importorskip("small_text")
from small_text import BreakingTies, LeastConfidence, PredictionEntropy  # noqa: E402
from small_text.query_strategies.bayesian import _bald  # noqa: E402
from small_text.query_strategies.coresets import greedy_coreset  # noqa: E402

SEEDS = range(4)


class _Proba:
    """A classifier stand-in: predict_proba returns the given rows (dataset = indices)."""

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def predict_proba(self, dataset: np.ndarray) -> np.ndarray:
        return self.probs[np.asarray(dataset)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("entropy", PredictionEntropy), ("least_confidence", LeastConfidence), ("margin", BreakingTies)],
)
def test_confidence_strategies_match(ours: str, theirs: type, seed: int) -> None:
    inputs = make_inputs(300, c=5, seed=seed)
    pool = np.arange(300)
    want = theirs().query(_Proba(inputs.probs), pool, pool, np.empty(0, dtype=int), None, n=25)
    got, _ = rank(ours, inputs, 25, rng=np.random.default_rng(0))
    assert set(got.tolist()) == set(want.tolist())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_kcenter_greedy_matches_greedy_coreset(seed: int, metric: str) -> None:
    inputs = make_inputs(200, d=5, m=5, seed=seed)
    x = np.vstack([inputs.embeddings, inputs.labeled_embeddings]).astype(np.float64)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # small-text: arccos(1 + rounding) on picked rows
        want = greedy_coreset(
            x, np.arange(200), np.arange(200, 205), 20, distance_metric=metric, normalized=True
        )
    got, _ = rank(
        "kcenter_greedy", inputs, 20, rng=np.random.default_rng(0), params={"metric": metric}
    )
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("seed", SEEDS)
def test_bald_matches(seed: int) -> None:
    inputs = make_inputs(300, c=4, s=8, seed=seed)
    want = _bald(inputs.samples.transpose(1, 0, 2))  # (n, S, C), bits, eps 1e-8
    got, scores = rank("bald", inputs, 30, rng=np.random.default_rng(0))
    assert set(got.tolist()) == set(np.argsort(-want)[:30].tolist())
    np.testing.assert_allclose(scores / np.log(2), want[got], rtol=1e-5, atol=1e-6)


def test_cosine_kcenter_ignores_scale() -> None:
    inputs = make_inputs(100, seed=1)
    scaled = StrategyInputs(
        embeddings=inputs.embeddings * np.linspace(1, 5, 100, dtype=np.float32)[:, None],
        labeled_embeddings=inputs.labeled_embeddings,
    )
    params = {"metric": "cosine"}
    a, _ = rank("kcenter_greedy", inputs, 10, rng=np.random.default_rng(0), params=params)
    b, _ = rank("kcenter_greedy", scaled, 10, rng=np.random.default_rng(0), params=params)
    assert a.tolist() == b.tolist()
