"""A simulated campaign with a model that reads images (the cnn) runs as an image project: every row
goes in as a PNG, is decoded back to the same pixels, and the CNN trains on them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from alloop.simulate.runner import CampaignSpec, SimulationFailed, Split, run_campaign

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def digit_split() -> Split:
    X, y = load_digits(return_X_y=True)
    X = (np.round(X / 16 * 255) / 255).astype(np.float32)  # 8x8 pixels in [0, 1], exact as PNG bytes
    return Split(X[:300], y[:300], X[1000:1300], y[1000:1300], [str(d) for d in range(10)])


def test_a_cnn_campaign_runs_as_an_image_project_and_learns(digit_split):
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=20, budget=80, initial=20, model={"name": "cnn"})
    result = run_campaign(digit_split, spec)
    assert result["stop_reason"] == "budget_exhausted"
    assert [p["labels"] for p in result["curve"]] == [20, 40, 60, 80]
    assert result["curve"][-1]["accuracy"] > 0.6  # ten classes: chance is 0.1
    again = run_campaign(digit_split, spec)
    assert again["labeled"] == result["labeled"] and again["curve"] == [
        {**p, "train_seconds": q["train_seconds"], "score_seconds": q["score_seconds"]}
        for p, q in zip(result["curve"], again["curve"])]


def test_rows_that_are_not_square_gray_images_are_refused(digit_split):
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=20, budget=40, initial=20, model={"name": "cnn"})
    wide = Split(digit_split.X_pool[:, :60], digit_split.y_pool, digit_split.X_eval[:, :60], digit_split.y_eval,
                 digit_split.labels)
    with pytest.raises(SimulationFailed, match="square gray images with values in"):
        run_campaign(wide, spec)
    scaled = Split(digit_split.X_pool * 16, digit_split.y_pool, digit_split.X_eval, digit_split.y_eval,
                   digit_split.labels)
    with pytest.raises(SimulationFailed, match="--scale none"):
        run_campaign(scaled, spec)
