"""A simulated campaign runs through the server's own store, controller and strategy registry."""

from __future__ import annotations

import numpy as np
import pytest

from alloop import strategies
from alloop.loop.coldstart import cold_start_order
from alloop.simulate.runner import CampaignSpec, SimulationFailed, run_campaign


def test_campaign_spends_its_budget_with_one_model_per_batch(iris_split):
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=6, budget=36, initial=6)
    result = run_campaign(iris_split, spec)
    assert result["stop_reason"] == "budget_exhausted" and result["state"] == "done"
    assert [p["labels"] for p in result["curve"]] == list(range(6, 37, 6))
    assert len(result["labeled"]) == 36 == len(set(result["labeled"]))
    assert all(0.0 <= p["accuracy"] <= 1.0 and 0.0 <= p["macro_f1"] <= 1.0 for p in result["curve"])


def test_first_labels_are_the_servers_random_cold_start(iris_split):
    result = run_campaign(
        iris_split, CampaignSpec(strategy="margin", seed=3, batch_size=6, budget=12, initial=6)
    )
    expected = cold_start_order(
        iris_split.X_pool, 6, rule="random", rng=np.random.default_rng([3, 0])
    )
    assert sorted(result["labeled"][:6]) == sorted(expected.tolist())


def test_same_seed_same_campaign(iris_split):
    spec = CampaignSpec(strategy="badge", seed=1, batch_size=6, budget=24, initial=6)
    a, b = run_campaign(iris_split, spec), run_campaign(iris_split, spec)
    assert a["labeled"] == b["labeled"] and a["curve"][-1]["accuracy"] == b["curve"][-1]["accuracy"]


@pytest.fixture
def lowest_row_strategy():
    @strategies.registry.register("test_lowest_row", needs={"probs"})
    def lowest_row(inputs, *, rng):
        """Prefers the first unlabeled pool rows (a probe for the registry lookup)."""
        return -np.arange(inputs.probs.shape[0], dtype=np.float64)

    yield "test_lowest_row"
    strategies.registry.unregister("test_lowest_row")


def test_strategies_come_from_the_servers_registry(iris_split, lowest_row_strategy):
    result = run_campaign(
        iris_split,
        CampaignSpec(strategy=lowest_row_strategy, seed=0, batch_size=5, budget=16, initial=6),
    )
    first = set(result["labeled"][:6])
    rest = [i for i in range(iris_split.y_pool.size) if i not in first][:10]
    assert result["labeled"][6:] == rest


def test_a_failing_round_stops_the_simulation(iris_split, monkeypatch):
    def broken(self, X, y):
        raise ValueError("broken fit")

    monkeypatch.setattr("alloop.models.sklearn.SklearnModel.fit", broken)
    with pytest.raises(SimulationFailed, match="broken fit"):
        run_campaign(
            iris_split, CampaignSpec(strategy="margin", seed=0, batch_size=6, budget=18, initial=6)
        )
