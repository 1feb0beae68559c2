"""The simulated campaign: a noisy oracle's flips, a reliable reviewer, all through the server's own code path."""

from __future__ import annotations

import numpy as np
import pytest

from alloop.simulate.runner import CampaignSpec, Split, oracle_answers, run_campaign


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    order = np.random.default_rng(0).permutation(y.size)
    pool, ev = order[:700], order[700:1000]
    return Split((X[pool] / 16).astype(np.float32), y[pool], (X[ev] / 16).astype(np.float32), y[ev],
                 [str(d) for d in range(10)])


def test_the_oracle_flips_a_seeded_share_of_items_the_same_way_each_time(split):
    spec = CampaignSpec(strategy="margin", seed=3, noise=0.1)
    given = oracle_answers(split, spec)
    wrong = given != split.y_pool
    assert 0.07 < wrong.mean() < 0.13 and np.all(given[~wrong] == split.y_pool[~wrong])
    assert np.array_equal(given, oracle_answers(split, spec))
    assert not np.any(oracle_answers(split, CampaignSpec(strategy="margin", seed=3)) != split.y_pool)


def test_reviews_find_flips_far_above_chance_and_fix_them(split):
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=20, budget=230, initial=20, retrain_every=20,
                        noise=0.1, review={"share": 0.15})
    result = run_campaign(split, spec)
    given = oracle_answers(split, spec)
    labeled = result["labeled"]
    flips = {p for p in labeled if given[p] != split.y_pool[p]}
    reviews = dict(result["reviews"])
    assert len(labeled) + len(reviews) == 230 and len(reviews) >= 0.1 * len(labeled)
    found = {p for p in reviews if p in flips}
    assert len(found) / len(reviews) > 0.3  # random reviews would hit flips about 10% of the time
    assert all(reviews[p] == "replaced" for p in found)  # the reviewer answers the truth
    final = dict(zip(labeled, result["final_labels"]))
    assert all(final[p] == split.y_pool[p] for p in found)
