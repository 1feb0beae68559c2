"""Parity with modAL-python: same selections on random inputs (up to ties)."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_data import make_inputs

from alloop.strategies import StrategyInputs, rank
from alloop.strategies.modal_adapter import ModalView

pytest.importorskip("modAL")
from modAL.batch import uncertainty_batch_sampling  # noqa: E402
from modAL.density import information_density as modal_density  # noqa: E402
from modAL.disagreement import (  # noqa: E402
    KL_max_disagreement,
    consensus_entropy,
    vote_entropy,
)
from modAL.uncertainty import (  # noqa: E402
    classifier_entropy,
    classifier_margin,
    classifier_uncertainty,
    entropy_sampling,
    margin_sampling,
    uncertainty_sampling,
)

SEEDS = range(4)


def _view(inputs: StrategyInputs) -> ModalView:
    return ModalView(inputs, np.asarray(inputs.embeddings))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("ours", "query", "utility", "sign"),
    [
        ("least_confidence", uncertainty_sampling, classifier_uncertainty, 1),
        ("margin", margin_sampling, classifier_margin, -1),
        ("entropy", entropy_sampling, classifier_entropy, 1),
    ],
)
def test_uncertainty_matches_modal(ours: str, query, utility, sign: int, seed: int) -> None:
    inputs = make_inputs(300, c=5, seed=seed)
    view, x = _view(inputs), np.asarray(inputs.embeddings)
    want, _ = query(view, x, n_instances=25)
    got, scores = rank(ours, inputs, 25, rng=np.random.default_rng(0))
    assert set(got.tolist()) == set(np.asarray(want).tolist())
    np.testing.assert_allclose(scores, sign * utility(view, x)[got], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("vote_entropy", vote_entropy),
        ("consensus_entropy", consensus_entropy),
        ("max_disagreement", KL_max_disagreement),
    ],
)
def test_committee_scores_match_modal(ours: str, theirs, seed: int) -> None:
    base = make_inputs(200, c=4, s=7, seed=seed)
    inputs = StrategyInputs(
        probs=base.samples.mean(axis=0), embeddings=base.embeddings, samples=base.samples
    )
    want = theirs(_view(inputs), np.asarray(inputs.embeddings))
    got, scores = rank(ours, inputs, 20, rng=np.random.default_rng(0))
    np.testing.assert_allclose(scores, want[got], rtol=1e-7, atol=1e-10)
    top = np.sort(want)[::-1][:20]
    np.testing.assert_allclose(scores, top, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("labeled", [True, False])
def test_ranked_batch_matches_modal(seed: int, labeled: bool) -> None:
    inputs = make_inputs(150, d=5, m=6 if labeled else 0, seed=seed)
    if not labeled:
        inputs = StrategyInputs(probs=inputs.probs, embeddings=inputs.embeddings)
    want, _ = uncertainty_batch_sampling(_view(inputs), np.asarray(inputs.embeddings), n_instances=15)
    got, _ = rank("ranked_batch", inputs, 15, rng=np.random.default_rng(0))
    assert got.tolist() == np.asarray(want).tolist()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("similarity", "metric"), [("inverse_euclidean", "euclidean"), ("inverse_cosine", "cosine")]
)
def test_information_density_matches_modal_density(seed: int, similarity: str, metric: str) -> None:
    inputs = make_inputs(120, seed=seed)
    flat = StrategyInputs(probs=np.full((120, 2), 0.5), embeddings=inputs.embeddings)  # u constant
    got, scores = rank(
        "information_density", flat, 120, rng=np.random.default_rng(0),
        params={"similarity": similarity, "base": "least_confidence"},
    )  # fmt: skip
    want = modal_density(np.asarray(inputs.embeddings, dtype=np.float64), metric=metric)
    np.testing.assert_allclose(scores, 0.5 * want[got], rtol=2e-5)
