"""The fast kernels behind the strategies agree with their plain (slow) definitions."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_data import make_inputs

import alloop.strategies._kmeans as kmeans_mod
import alloop.strategies._nearest as nearest_mod
from alloop.strategies import StrategyInputs, rank, select_top_k
from alloop.strategies._linalg import min_sq_dist, nearest_rows
from alloop.strategies._nearest import Blocks, EuclideanSpace
from alloop.strategies.committee import _votes, average_kl, max_disagreement
from alloop.strategies.seeding import BadgeSpace
from alloop.strategies.uncertainty import row_entropy, top_two


def _explicit_gradients(probs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """BADGE gradient embeddings built in full: (p - onehot(argmax p)) outer x, (n, C*d)."""
    a = probs.copy()
    a[np.arange(len(a)), probs.argmax(axis=1)] -= 1.0
    return (a[:, :, None] * x[:, None, :]).reshape(len(a), -1)


@pytest.mark.parametrize("seed", range(3))
def test_badge_factorised_distances_equal_explicit_gradient_embeddings(seed: int) -> None:
    inputs = make_inputs(50, d=7, c=4, seed=seed)
    x = np.asarray(inputs.embeddings, dtype=np.float32)
    space = BadgeSpace(inputs.probs, x)
    g = _explicit_gradients(np.asarray(inputs.probs, dtype=np.float32), x).astype(np.float64)
    np.testing.assert_allclose(space.norms2, (g**2).sum(axis=1), rtol=1e-5, atol=1e-6)
    for i in (0, 17, 49):
        want = ((g - g[i]) ** 2).sum(axis=1)
        got = space.dist2_to(i, np.empty(50, dtype=np.float32))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_cosine_space_equals_a_normalised_copy_zero_rows_included() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32) * rng.uniform(0.1, 9, size=(40, 1)).astype(
        np.float32
    )
    x[3] = 0.0
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    unit = np.where(norms > 0, x / np.where(norms > 0, norms, 1), 0.0)
    space = EuclideanSpace(x, unit=True)
    for i in (0, 3, 39):
        want = ((unit - unit[i]) ** 2).sum(axis=1)
        got = space.block_sq(0, 40, space.center(i), np.empty(40, dtype=np.float32))
        np.testing.assert_allclose(got, want, atol=1e-5)
    lab = unit[[5, 9]].astype(np.float32)
    got = min_sq_dist(x, lab, space.xx, scale=space.scale)
    want = ((unit[:, None, :] - unit[None, [5, 9], :]) ** 2).sum(axis=2).min(axis=1)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_nearest_rows_is_the_brute_force_argmin() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 6)).astype(np.float32), rng.normal(size=(17, 6)).astype(np.float32)
    want = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest_rows(x, y), want)


def test_block_argmax_breaks_ties_across_blocks_like_one_array() -> None:
    values = np.zeros(50, dtype=np.float32)
    values[[3, 21, 22, 47]] = 5.0  # tied maximum in three blocks of 10
    blocks = Blocks(50, 10)
    for j in range(len(blocks.spans)):
        blocks.refresh(values, j, "max")
    picks = {blocks.argmax(values, np.random.default_rng(s)) for s in range(60)}
    assert picks == {3, 21, 22, 47}
    ref = np.flatnonzero(values == 5.0)
    for seed in range(5):  # the same draw as rng.integers over the tied indices in order
        assert (
            blocks.argmax(values, np.random.default_rng(seed))
            == ref[np.random.default_rng(seed).integers(ref.size)]
        )


def test_block_sampling_follows_the_weights_and_skips_zeros() -> None:
    weights = np.zeros(40, dtype=np.float32)
    weights[[1, 12, 13, 38]] = [1.0, 2.0, 3.0, 4.0]
    blocks = Blocks(40, 8)
    for j in range(len(blocks.spans)):
        blocks.refresh(weights, j, "sum")
    rng = np.random.default_rng(0)
    draws = np.array([blocks.sample(weights, rng) for _ in range(20_000)])
    assert set(draws.tolist()) == {1, 12, 13, 38}
    freq = np.array([np.mean(draws == i) for i in (1, 12, 13, 38)])
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.015)
    empty = Blocks(40, 8)
    assert empty.sample(np.zeros(40, dtype=np.float32), rng) is None


@pytest.mark.parametrize("name", ["kcenter_greedy", "kmeans_pp", "badge", "ranked_batch"])
@pytest.mark.parametrize("labeled", [True, False])
def test_greedy_picks_do_not_depend_on_the_block_size(
    name: str, labeled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = make_inputs(230, d=5, m=4 if labeled else 0, seed=2)
    whole = rank(name, inputs, 30, rng=np.random.default_rng(0))
    monkeypatch.setattr(nearest_mod, "BLOCK_ROWS", 16)
    blocked = rank(name, inputs, 30, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_allclose(whole[1], blocked[1], rtol=1e-6)


def test_top_two_and_entropy_match_their_definitions() -> None:
    rng = np.random.default_rng(3)
    for c in (1, 2, 5):
        p = rng.dirichlet(np.ones(c), size=200)
        p[0] = 1.0 / c  # a fully tied row
        if c > 2:
            p[1, :2] = 0.0  # zero probabilities: 0 log 0 = 0
        first, second = top_two(p)
        part = np.sort(p, axis=1)
        np.testing.assert_array_equal(first, part[:, -1])
        np.testing.assert_array_equal(second, part[:, -2] if c > 1 else 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            want = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        np.testing.assert_allclose(row_entropy(p), want, rtol=1e-12, atol=1e-15)


def test_votes_match_argmax_with_ties_to_the_first_class() -> None:
    rng = np.random.default_rng(4)
    chunk = rng.dirichlet(np.ones(4), size=(6, 90))
    chunk[:, :10] = 0.25  # every member tied on all classes: votes for class 0
    chunk[2, 10:20, 1:3] = chunk[2, 10:20, :].max(axis=1, keepdims=True) + 0.1  # tie of 1 and 2
    votes = chunk.argmax(axis=2)
    want = np.stack([(votes == c).sum(axis=0) for c in range(4)], axis=1)
    np.testing.assert_array_equal(_votes(chunk), want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_average_kl_identity_and_max_disagreement_equal_the_direct_kl(dtype: type) -> None:
    inputs = make_inputs(120, c=5, s=7, seed=5)
    samples = inputs.samples.astype(dtype)
    samples[:, 0, 0] = 0.0  # a zero probability: 0 log 0 = 0
    samples /= samples.sum(axis=2, keepdims=True)
    p = np.clip(samples.astype(np.float64), 1e-7, 1.0)
    p /= p.sum(axis=2, keepdims=True)
    mean = p.mean(axis=0)
    direct = (p * np.log(p / mean)).sum(axis=2).mean(axis=0)
    tol = 1e-9 if dtype == np.float64 else 2e-5
    got = average_kl(StrategyInputs(samples=samples), rng=np.random.default_rng(0))
    np.testing.assert_allclose(got, direct, rtol=tol, atol=tol)
    q = samples.astype(np.float64)
    qm = q.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(q > 0, q * np.log(q / qm), 0.0).sum(axis=2).max(axis=0)
    got = max_disagreement(StrategyInputs(samples=samples), rng=np.random.default_rng(0))
    np.testing.assert_allclose(got, kl, rtol=tol, atol=tol)


def test_select_top_k_fast_path_equals_the_masked_path() -> None:
    rng = np.random.default_rng(6)
    scores = rng.integers(0, 5, size=500).astype(np.float64)  # many ties
    for k in (1, 10, 499, 500):
        fast = select_top_k(scores, k, rng=np.random.default_rng(1))
        masked = select_top_k(scores, k, rng=np.random.default_rng(1), exclude=np.zeros(500, bool))
        np.testing.assert_array_equal(fast, masked)


def test_sampled_kmeans_path_assigns_every_row_to_its_nearest_centroid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kmeans_mod, "KMEANS_SAMPLE", 100)
    monkeypatch.setattr(kmeans_mod, "KMEANS_PER_CLUSTER", 20)
    rng = np.random.default_rng(7)
    centers = np.eye(5, dtype=np.float32) * 50
    x = (centers[rng.integers(5, size=2000)] + rng.normal(size=(2000, 5))).astype(np.float32)
    labels, fitted = kmeans_mod.cluster_labels(x, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(labels, nearest_rows(x, fitted))
    truth = np.argmax(x, axis=1)  # the blob each row came from
    assert all(np.unique(labels[truth == b]).size == 1 for b in range(5))  # blobs recovered
    assert np.unique(labels).size == 5


def test_typiclust_on_the_sampled_kmeans_path_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmeans_mod, "KMEANS_SAMPLE", 50)
    monkeypatch.setattr(kmeans_mod, "KMEANS_PER_CLUSTER", 5)
    inputs = make_inputs(400, d=4, m=3, seed=8)
    picks, scores = rank("typiclust", inputs, 12, rng=np.random.default_rng(0))
    assert picks.size == 12 and np.unique(picks).size == 12 and np.all(scores > 0)


def _blobs(n: int, seed: int) -> StrategyInputs:
    """Well separated clusters (where pruning skips most rows), with labeled rows."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, 6)) * 20
    x = centers[rng.integers(8, size=n)] + rng.normal(size=(n, 6))
    lab = centers[rng.integers(8, size=4)] + rng.normal(size=(4, 6))
    logits = rng.normal(size=(n, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return StrategyInputs(probs=probs, embeddings=x.astype(np.float32),
                          labeled_embeddings=lab.astype(np.float32))  # fmt: skip


PRUNED = [
    ("kcenter_greedy", {"metric": "euclidean"}),
    ("kcenter_greedy", {"metric": "cosine"}),
    ("ranked_batch", {"metric": "euclidean"}),
    ("ranked_batch", {"metric": "cosine"}),
    ("kmeans_pp", {}),
    ("badge", {}),
]


@pytest.mark.parametrize(("name", "params"), PRUNED)
@pytest.mark.parametrize("labeled", [True, False])
def test_pruning_gives_the_same_picks_as_full_passes(
    name: str, params: dict, labeled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _blobs(600, seed=9)
    if not labeled:
        inputs = StrategyInputs(probs=inputs.probs, embeddings=inputs.embeddings)
    calls: list[int] = []
    original = nearest_mod.NearestCenters._some

    def spy(self, rows, center, t):  # type: ignore[no-untyped-def]
        calls.append(rows.size)
        return original(self, rows, center, t)

    monkeypatch.setattr(nearest_mod.NearestCenters, "_some", spy)
    pruned = rank(name, inputs, 40, rng=np.random.default_rng(0), params=params)
    monkeypatch.setattr(nearest_mod.NearestCenters, "PRUNE_SHARE", -1.0)  # never prune
    full = rank(name, inputs, 40, rng=np.random.default_rng(0), params=params)
    np.testing.assert_array_equal(pruned[0], full[0])
    np.testing.assert_allclose(pruned[1], full[1], rtol=1e-6)
    if name in ("kcenter_greedy", "kmeans_pp", "badge"):
        assert calls, "pruning never engaged on well separated clusters"


def test_lloyd_stops_once_few_enough_rows_change_cluster():
    from alloop.strategies._kmeans import lloyd

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(600, 4)) + rng.integers(0, 4, size=(600, 1)) * 3).astype(np.float32)
    start = x[rng.choice(600, 6, replace=False)]
    # any change tolerated: the second pass stops before updating, as one iteration would
    np.testing.assert_array_equal(lloyd(x, start, 20, tol=1.0), lloyd(x, start, 1))
    exact = lloyd(x, start, 100)  # tol=0: runs until no label changes, so one more pass moves nothing
    np.testing.assert_allclose(lloyd(x, exact, 1), exact, rtol=1e-6)
