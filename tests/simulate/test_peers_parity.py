"""Peers' curves match alloop's point for point where the two loops used to part.

Two causes, measured on sst2 (see :mod:`alloop.simulate.peers`): alloop's one-class rescue (the
first model names one class over the pool; alloop refits it with balanced weights, or ranks by the
cold-start rule) and exact ties at the batch boundary (alloop draws with its seeded rng, modAL
took ``np.argpartition``'s order). Each test builds a split that hits one of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alloop.simulate.peers import AlloopRules, OneClassSafe, peer_curve
from alloop.simulate.runner import CampaignSpec, Split, run_campaign
from alloop.strategies.base import select_top_k

pytest.importorskip("modAL")
pytest.importorskip("small_text")

LR = {"name": "logistic_regression", "params": {}}
SEED, BATCH, BUDGET, INITIAL = 0, 10, 60, 20
PEERS = [("modAL", "margin_sampling"), ("small-text", "BreakingTies")]


def _first_labels(n: int) -> np.ndarray:
    """The random cold start both loops share."""
    return np.random.default_rng([SEED, 0]).permutation(n)[:INITIAL]


def _weak_split(scale: float = 0.1) -> Split:
    """Small, weakly separated vectors (like sentence embeddings): twenty labels, 13 of one class,
    give a logistic regression that predicts the majority class everywhere."""
    rng = np.random.default_rng(2)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(m) < 0.35).astype(np.int64)
        return (scale * (0.5 * y[:, None] + rng.normal(size=(m, 8)))).astype(np.float32), y

    (X_pool, y_pool), (X_eval, y_eval) = draw(300), draw(200)
    return Split(X_pool, y_pool, X_eval, y_eval, ["a", "b"])


def _tied_split(copies: int = 30) -> Split:
    """Two classes, plus ``copies`` identical vectors on the boundary with alternating labels: their
    margins tie exactly, and which copies a batch takes decides the next model."""
    rng = np.random.default_rng(0)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, m)
        centers = np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, 0.5])
        return (centers + rng.normal(scale=0.8, size=(m, 2))).astype(np.float32), y

    (X_pool, y_pool), (X_eval, y_eval) = draw(200), draw(200)
    X_pool[:copies] = np.float32([0.05, 0.0])
    y_pool[:copies] = np.arange(copies) % 2
    return Split(X_pool, y_pool, X_eval, y_eval, ["a", "b"])


def _alloop(split: Split) -> list[tuple[int, float, float]]:
    spec = CampaignSpec(
        strategy="margin", seed=SEED, batch_size=BATCH, budget=BUDGET, initial=INITIAL, model=LR
    )
    return _points(run_campaign(split, spec)["curve"])


def _peer(split: Split, library: str, strategy: str, model: dict | None = None) -> list:
    curve = peer_curve(
        split,
        library,
        strategy,
        seed=SEED,
        batch=BATCH,
        budget=BUDGET,
        initial=INITIAL,
        model=model or LR,
    )
    return _points(curve)


def _points(curve: list[dict]) -> list[tuple[int, float, float]]:
    return [(p["labels"], p["accuracy"], p["macro_f1"]) for p in curve]


@pytest.fixture(scope="module")
def weak() -> tuple[Split, list]:
    split = _weak_split()
    return split, _alloop(split)


def test_the_weak_split_starts_with_a_one_class_model(weak):
    split, _ = weak
    start = _first_labels(split.y_pool.size)
    assert np.bincount(split.y_pool[start]).tolist() == [13, 7]
    model = OneClassSafe(LogisticRegression(), 2).fit(split.X_pool[start], split.y_pool[start])
    rest = np.setdiff1d(np.arange(split.y_pool.size), start)
    assert np.unique(model.predict_proba(split.X_pool[rest]).argmax(axis=1)).size == 1


@pytest.mark.parametrize(("library", "strategy"), PEERS)
def test_peers_rescue_a_one_class_model_as_alloop_does(weak, library, strategy):
    split, alloop = weak
    assert _peer(split, library, strategy) == alloop
    # without the rescue (the peers' loops as they ship) the curves part from the first point
    plain = _peer(split, library, strategy, {**LR, "one_class_rescue": False})
    assert plain[0] != alloop[0]


@pytest.mark.parametrize(("library", "strategy"), PEERS)
def test_first_labels_of_one_class_take_the_cold_start_rule(library, strategy):
    split = _weak_split()
    split.y_pool[_first_labels(split.y_pool.size)] = 0  # twenty of one class, as sms_spam seed 6
    assert _peer(split, library, strategy) == _alloop(split)


def test_modal_breaks_exact_ties_as_alloop_does():
    import modAL.uncertainty
    from modAL.models import ActiveLearner

    split = _tied_split()
    start = _first_labels(split.y_pool.size)
    rest = np.setdiff1d(np.arange(split.y_pool.size), start)
    learner = ActiveLearner(
        estimator=OneClassSafe(LogisticRegression(), 2),
        query_strategy=modAL.uncertainty.margin_sampling,
        X_training=split.X_pool[start],
        y_training=split.y_pool[start],
    )
    margins = modAL.uncertainty.classifier_margin(learner, split.X_pool[rest])
    assert np.sort(margins)[BATCH - 1] == np.sort(margins)[BATCH]  # the batch boundary is a tie
    theirs, _ = learner.query(split.X_pool[rest], n_instances=BATCH)
    ours = select_top_k(-margins, BATCH, rng=AlloopRules(seed=SEED, depth=BATCH).rng(1))
    assert set(theirs.tolist()) != set(ours.tolist())  # the tie order modAL ships picks others
    assert _peer(split, "modAL", "margin_sampling") == _alloop(split)


def test_peer_probabilities_are_float32_as_alloops_adapter_gives_them():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    two = OneClassSafe(LogisticRegression(), 2).fit(X, y)
    one = OneClassSafe(two.estimator, 2).fit(X, np.zeros_like(y))
    assert two.predict_proba(X).dtype == np.float32
    assert one.predict_proba(X).dtype == np.float32
    assert one.predict_proba(X)[:, 0].tolist() == [1.0] * 40
