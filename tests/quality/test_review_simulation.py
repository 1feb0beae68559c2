"""Simulated campaigns with a noisy oracle's flips and a reliable reviewer, through the server's own code path:
reviews worth 15% of the labels find at least 60% of the flips, and the reviewed model beats the unreviewed one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import sms_rows

from alloop.models.hashing import HashingEncoder
from alloop.simulate.runner import CampaignSpec, Split, oracle_answers, run_campaign


@pytest.fixture(scope="module")
def digits_split(digits):
    X, y = digits
    order = np.random.default_rng(0).permutation(y.size)
    pool, ev = order[:1200], order[1200:]
    return Split((X[pool] / 16).astype(np.float32), y[pool], (X[ev] / 16).astype(np.float32), y[ev],
                 [str(d) for d in range(10)])


@pytest.fixture(scope="module")
def sms_split():
    rows = sms_rows(3000)
    labels = ["ham", "spam"]
    X = HashingEncoder(dim=1024).encode([text for _, text in rows])
    y = np.asarray([labels.index(label) for label, _ in rows])
    return Split(X[:2000], y[:2000], X[2000:], y[2000:], labels)


def test_the_oracle_flips_a_seeded_share_of_items_the_same_way_each_time(digits_split):
    spec = CampaignSpec(strategy="margin", seed=3, noise=0.1)
    given = oracle_answers(digits_split, spec)
    wrong = given != digits_split.y_pool
    assert 0.07 < wrong.mean() < 0.13 and np.all(given[~wrong] == digits_split.y_pool[~wrong])
    assert np.array_equal(given, oracle_answers(digits_split, spec))
    assert not np.any(oracle_answers(digits_split, CampaignSpec(strategy="margin", seed=3)) != digits_split.y_pool)


def measure(split: Split, spec: CampaignSpec) -> dict:
    """Recall and precision of the reviews against the flips, and the reviewed vs unreviewed accuracy."""
    result = run_campaign(split, spec)
    given = oracle_answers(split, spec)
    labeled = result["labeled"]
    flips = {p for p in labeled if given[p] != split.y_pool[p]}
    reviews = dict(result["reviews"])
    found = flips.intersection(reviews)
    final = dict(zip(labeled, result["final_labels"]))
    plain = run_campaign(split, replace(spec, review=None, budget=len(labeled)))
    return {
        "labels": len(labeled), "reviews": len(reviews), "flips": len(flips), "found": found, "outcomes": reviews,
        "final": final, "recall": len(found) / len(flips), "precision": len(found) / len(reviews),
        "accuracy": result["curve"][-1]["accuracy"], "plain_accuracy": plain["curve"][-1]["accuracy"],
    }


def check_target(split: Split, m: dict) -> None:
    assert m["reviews"] <= 0.15 * m["labels"] + 1  # at most 15% of the labels (fewer when suspects run out)
    assert m["recall"] >= 0.6, m["recall"]
    assert m["precision"] > 2 * m["flips"] / m["labels"]  # a random review hits a flip at the noise rate
    assert all(m["outcomes"][p] == "replaced" and m["final"][p] == split.y_pool[p] for p in m["found"])
    assert m["accuracy"] > m["plain_accuracy"]


def test_digits_reviews_find_most_flips_and_beat_the_unreviewed_campaign(digits_split):
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=20, budget=345, initial=20, retrain_every=20,
                        noise=0.1, review={"share": 0.15})
    check_target(digits_split, measure(digits_split, spec))


def test_sms_reviews_find_most_flips_and_beat_the_unreviewed_campaign(sms_split):
    # hashed word counts: a weakly regularized model, or every probability sits near the class prior
    spec = CampaignSpec(strategy="random", seed=0, batch_size=20, budget=460, initial=20, retrain_every=20,
                        noise=0.1, review={"share": 0.15},
                        model={"name": "logistic_regression", "params": {"C": 100.0}})
    check_target(sms_split, measure(sms_split, spec))


@pytest.mark.parametrize(("args", "fragment"), [
    (["--review-share", "0.9"], "less than or equal to 0.5"),
    (["--review-share", "0"], "greater than 0"),
    (["--noise", "0.7"], "--noise"),
])
def test_alloop_simulate_checks_noise_and_review_share(args, fragment, tmp_path):
    from typer.testing import CliRunner

    from alloop.cli import app

    result = CliRunner().invoke(app, ["simulate", "digits", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2 and fragment in result.output
    assert not any(tmp_path.iterdir())


def test_alloop_simulate_passes_noise_and_review_to_its_campaigns():
    from alloop.simulate.datasets import DataRef, Protocol
    from alloop.simulate.grid import Grid, grid_jobs

    grid = Grid(data=DataRef(name="digits"), strategies=("margin",), seeds=(0,), noise=0.1, review_share=0.15)
    specs = [job.args[2] for job in grid_jobs(grid, Protocol(eval_size=400, budget=100)) if job.key[0] == "campaign"]
    assert [(s.noise, s.review) for s in specs] == [(0.1, {"share": 0.15})]
