"""scripts/replicate_lu2023.py runs the paper's protocol through the alloop simulate command line
and reads what it wrote; any other svmlight or CSV file goes through the same command."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import dump_svmlight_file, make_classification

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replicate_lu2023.py"


def load_script():
    spec = importlib.util.spec_from_file_location("replicate_lu2023", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_protocol_is_options_of_the_command_line():
    script = load_script()
    cmd = script.command(Path("heart.svmlight"), 20, 2, Path("out"))
    assert cmd[1:4] == ["-m", "alloop", "simulate"]
    for option, value in (("--eval-size", "0.4"), ("--scale", "train"), ("--budget", "all"), ("--batch-sizes", "1"),
                          ("--initial", "20"), ("--model", "svm[kernel=rbf,gamma=auto,C=1]"), ("--seeds", "20")):
        assert cmd[cmd.index(option) + 1] == value
    assert "--no-one-class-rescue" in cmd and set(script.PUBLISHED) == {
        "heart", "ionosphere", "wdbc", "splice", "german", "diabetes"}


def test_a_users_own_files_run_beside_the_published_sets(tmp_path, monkeypatch, capsys):
    X, y = make_classification(n_samples=90, n_features=5, random_state=2)
    data = tmp_path / "data"
    data.mkdir()
    dump_svmlight_file(X, np.where(y == 1, 1, -1), str(data / "heart.svmlight"))  # stands in for the real one
    own = tmp_path / "mine.csv"
    own.write_text("f1,f2,f3,label\n" + "\n".join(f"{a:.4f},{b:.4f},{c:.4f},{'yes' if t else 'no'}"
                                                   for (a, b, c, *_), t in zip(X, y)) + "\n")
    out, report = tmp_path / "out", tmp_path / "comparison.json"
    monkeypatch.setattr(sys, "argv", ["replicate", "--data", str(data), "--sets", "heart", "--extra", str(own),
                                      "--seeds", "2", "--workers", "1", "--out", str(out), "--json", str(report)])
    assert load_script().main() == 0
    shown = capsys.readouterr().out
    assert "| heart |" in shown and "| mine |" in shown
    assert "within ±0.01 of the published values on" in shown and "of 1 sets" in shown  # mine has no published row
    entries = {e["set"]: e for e in json.loads(report.read_text())}
    assert entries["heart"]["random_published"] == 0.8051 and "within" in entries["heart"]
    assert "within" not in entries["mine"] and 0.0 <= entries["mine"]["margin"]["mean"] <= 1.0
    assert entries["mine"]["protocol"]["budget_all"] is True and entries["mine"]["protocol"]["scale"] == "train"
