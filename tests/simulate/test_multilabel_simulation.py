"""Simulated multi-label campaigns: the two sets, one small grid through the controller, the CLI's checks."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from alloop.cli import app
from alloop.simulate.multilabel import describe, load_multilabel_set, run_grid

runner = CliRunner()


def test_the_synthetic_set_is_seeded_and_described():
    data = load_multilabel_set("multilabel_synthetic")
    assert describe(data) == {"dataset": "multilabel_synthetic", "items": 2000, "features": 40, "labels": 8,
                              "cardinality": 2.018, "density": 0.252, "empty_share": 0.135}
    np.testing.assert_array_equal(data.Y, load_multilabel_set("multilabel_synthetic").Y)
    np.testing.assert_allclose(data.X.mean(axis=0), 0, atol=1e-5)  # standardized


def test_yeast_is_read_from_the_river_package():
    data = load_multilabel_set("yeast")
    assert describe(data)["items"] == 2417 and data.X.shape[1] == 103 and len(data.labels) == 14
    assert describe(data)["cardinality"] == 4.237  # MULAN's figure for Yeast: 4.24


def test_a_small_grid_runs_campaigns_to_their_budget(tmp_path):
    result = run_grid("multilabel_synthetic", ["random", "mmc"], [0], budget=60, batch_size=20)
    assert [r["strategy"] for r in result["rows"]] == ["random", "mmc"]
    for run in result["runs"]:
        assert run["stop_reason"] == "budget_exhausted"
        assert [p["labels"] for p in run["curve"]] == [20, 40, 60]
        assert run["curve"][-1]["micro_f1"] > run["curve"][0]["micro_f1"]
    assert 0 < result["rows"][1]["aubc"]["mean"] < 1


def test_the_cli_runs_a_multilabel_set_and_refuses_classification_strategies(tmp_path):
    refused = runner.invoke(app, ["simulate", "multilabel_synthetic", "--strategies", "margin,random", "--seeds", "1"])
    assert refused.exit_code == 2 and "binary_entropy_mean" in refused.output
    done = runner.invoke(app, ["simulate", "multilabel_synthetic", "--strategies", "random,br_margin", "--seeds", "1",
                               "--budget", "40", "--workers", "1", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "| br_margin | 1 |" in done.output
    saved = json.loads((tmp_path / "multilabel-multilabel_synthetic.json").read_text())
    assert saved["budget"] == 40 and len(saved["runs"]) == 2
