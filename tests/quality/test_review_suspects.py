"""The label check: cleanlab over out-of-fold probabilities finds planted flips; CROWDLAB with overlap."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import store_campaign

from alloop.loop.snapshot import take_snapshot
from alloop.quality.label_errors import check_labels, out_of_fold
from alloop.schemas import LabelIn, ReviewSpec
from alloop.store.labels import submit_labels
from alloop.store.reviews import record_check

NOW = 1_000_000.0


@pytest.fixture
def scaled(digits):
    X, y = digits
    return X / 16.0, y


def flipped_labels(y: np.ndarray, n: int, flips: int, seed: int = 0) -> tuple[list[str], set[int]]:
    """The first ``n`` labels with ``flips`` of them (seeded) changed to another digit."""
    rng = np.random.default_rng(seed)
    planted = set(rng.choice(n, size=flips, replace=False).tolist())
    given = [str((y[i] + 1 + rng.integers(9)) % 10) if i in planted else str(y[i]) for i in range(n)]
    return given, planted


def labeled_store(store, settings, scaled, n=300, flips=20, **overrides):
    X, y = scaled
    pid = store_campaign(store, settings, (X, y), pool=n + 50, evals=0, budget=None, review={}, **overrides)
    given, planted = flipped_labels(y, n, flips)
    submit_labels(store, pid, [LabelIn(item_id=i, label=given[i], annotator="a") for i in range(n)], NOW)
    return pid, planted


def idx_of(store, pid, ids):
    with store.read() as conn:
        rows = conn.execute("SELECT idx, ext_id FROM items WHERE project_id = ?", (pid,)).fetchall()
    by_ext = {int(r[1]): r[0] for r in rows}
    return {by_ext[i] for i in ids}


def test_the_check_ranks_planted_flips_first(store, settings, scaled):
    pid, planted = labeled_store(store, settings, scaled)
    snap = take_snapshot(store, pid)
    check = check_labels(store, snap, ReviewSpec(), version=1)
    assert check["method"] == "cleanlab" and check["checked"] == 300 and check["n_labels"] == 300
    suspects = [idx for idx, _ in check["suspects"]]
    flips = idx_of(store, pid, planted)
    top = set(suspects[:30])  # 10% of the labels: half of them flips would be 5x chance
    assert len(top & flips) >= 15, (len(top & flips), len(suspects))
    scores = [score for _, score in check["suspects"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_reviewed_items_are_never_suspected_again(store, settings, scaled):
    pid, planted = labeled_store(store, settings, scaled)
    snap = take_snapshot(store, pid)
    first = check_labels(store, snap, ReviewSpec(), version=1)
    top = first["suspects"][0][0]
    with store.write() as conn:
        record_check(conn, pid, {**first, "replaced_seen": 0})
        conn.execute("INSERT INTO reviews (project_id, item_idx, reviewer, label, outcome, created_at) "
                     "VALUES (?, ?, 'b', '1', 'confirmed', 0)", (pid, top))
    again = check_labels(store, take_snapshot(store, pid), ReviewSpec(), version=2)
    assert top not in [idx for idx, _ in again["suspects"]]
    with store.write() as conn:
        conn.execute("DELETE FROM suspects WHERE item_idx = ?", (top,))
        record_check(conn, pid, {**again, "replaced_seen": 0})
        assert conn.execute("SELECT 1 FROM suspects WHERE item_idx = ?", (top,)).fetchone() is None
        ranks = [r[0] for r in conn.execute("SELECT rank FROM suspects WHERE project_id = ? ORDER BY rank", (pid,))]
    assert ranks == list(range(len(again["suspects"])))


def test_classes_with_too_few_labels_are_left_out(store, settings, scaled):
    X, y = scaled
    pid = store_campaign(store, settings, (X, y), pool=200, evals=0, budget=None, review={"folds": 5})
    rows = [i for i in range(200) if y[i] in (0, 1)][:40] + [i for i in range(200) if y[i] == 2][:3]
    submit_labels(store, pid, [LabelIn(item_id=i, label=str(y[i]), annotator="a") for i in rows], NOW)
    snap = take_snapshot(store, pid)
    kept, probs = out_of_fold(snap, snap.labeled_rows, snap.labeled_y, 5, seed=0)
    assert kept.size == 40 and probs.shape == (40, 2)
    assert np.allclose(probs.sum(axis=1), 1.0)
    check = check_labels(store, snap, ReviewSpec(folds=5), version=1)
    assert check["checked"] == 40 and check["n_labels"] == 43


def test_one_checkable_class_gives_no_suspects(store, settings, scaled):
    X, y = scaled
    pid = store_campaign(store, settings, (X, y), pool=100, evals=0, budget=None, review={})
    rows = [i for i in range(100) if y[i] == 0][:6] + [i for i in range(100) if y[i] == 1][:2]
    submit_labels(store, pid, [LabelIn(item_id=i, label=str(y[i]), annotator="a") for i in rows], NOW)
    check = check_labels(store, take_snapshot(store, pid), ReviewSpec(), version=1)
    assert (check["checked"], check["suspects"]) == (0, [])


def test_overlap_uses_crowdlab_and_rates_a_noisy_annotator_lower(store, settings, scaled):
    X, y = scaled
    n = 150
    pid = store_campaign(store, settings, (X, y), pool=n, evals=0, budget=None, review={}, labels_per_item=3,
                         max_stale_labels=None)
    rng = np.random.default_rng(1)
    noisy = [str((y[i] + 1 + rng.integers(9)) % 10) if rng.random() < 0.5 else str(y[i]) for i in range(n)]
    # 12 items where the noisy annotator and one good one agree on a wrong label: the majority is wrong
    planted = set(rng.choice(n, size=12, replace=False).tolist())
    wrong = {i: str((y[i] + 3) % 10) for i in planted}
    votes = []
    for i in range(n):
        votes.append(LabelIn(item_id=i, label=wrong.get(i, str(y[i])), annotator="good1"))
        votes.append(LabelIn(item_id=i, label=str(y[i]), annotator="good2"))
        votes.append(LabelIn(item_id=i, label=wrong.get(i, noisy[i]), annotator="noisy"))
    submit_labels(store, pid, votes, NOW)
    check = check_labels(store, take_snapshot(store, pid), ReviewSpec(), version=1)
    assert check["method"] == "crowdlab"
    suspects = {idx for idx, _ in check["suspects"]}
    assert len(suspects & idx_of(store, pid, planted)) >= 8, len(suspects)
    quality = check["annotators"]
    assert quality["noisy"]["quality"] < min(quality["good1"]["quality"], quality["good2"]["quality"])
