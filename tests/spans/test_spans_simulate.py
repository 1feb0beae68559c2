"""``alloop simulate --task spans``: campaigns on the NER folder through the server's loop, and its errors."""

from __future__ import annotations

import json
import re

from spans_helpers import NER
from typer.testing import CliRunner

from alloop.cli import app


def test_simulate_spans_writes_curves_and_a_summary(tmp_path):
    result = CliRunner().invoke(app, ["simulate", str(NER), "--task", "spans", "--strategies", "random,mnlp",
                                      "--seeds", "1", "--batch-sizes", "20", "--budget", "40", "--workers", "1",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "AUBC" in result.output and "mnlp" in result.output
    payload = json.loads((tmp_path / "spans.json").read_text())
    assert {r["strategy"] for r in payload["results"]} == {"random", "mnlp"}
    for run in payload["results"]:
        assert [p["labels"] for p in run["curve"]] == [20, 40]
        assert all(0 <= p["entity_f1"] <= 1 for p in run["curve"])
    first = {r["strategy"]: r["curve"][0]["entity_f1"] for r in payload["results"]}
    assert first["random"] == first["mnlp"]  # the same random first labels for every strategy of a seed


def test_simulate_spans_refuses_a_classification_strategy_and_two_folders(tmp_path):
    wrong = CliRunner().invoke(app, ["simulate", str(NER), "--task", "spans", "--strategies", "margin"])
    assert wrong.exit_code != 0 and "mnlp" in wrong.output
    two = CliRunner().invoke(app, ["simulate", str(NER), str(NER), "--task", "spans"])
    assert two.exit_code != 0 and "one data folder" in two.output
    missing = CliRunner().invoke(app, ["simulate", str(tmp_path), "--task", "spans", "--budget", "20",
                                       "--workers", "1", "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "holdspool.jsonlandtest.jsonl" in re.sub(r"[\s│]+", "", missing.output)
