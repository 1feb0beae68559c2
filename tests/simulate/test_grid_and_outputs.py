"""The grid end to end: alloop and peers on the same protocol, summaries, files, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from alloop.cli import app
from alloop.simulate.datasets import DataRef
from alloop.simulate.grid import Grid, run_grid
from alloop.simulate.peers import peer_jobs
from alloop.simulate.pipeline import load_raw, readme_lines, write_outputs
from alloop.simulate.summary import evaluate_forecasts, summarize, verdicts

pytest.importorskip("matplotlib")

GRID = Grid(data=DataRef(name="iris"), strategies=("random", "margin"), seeds=(0, 1), budget=30)


@pytest.fixture(scope="module")
def iris_result():
    data = GRID.data
    from alloop.simulate.datasets import load_dataset

    loaded = load_dataset(data)
    protocol = GRID.protocol(loaded.protocol, loaded.y.size, len(loaded.labels))
    extra = peer_jobs(
        data,
        protocol,
        GRID.seeds,
        (protocol.batch_size,),
        GRID.model_for(protocol),
        {"modAL": ("margin_sampling",), "small-text": ("BreakingTies", "RandomSampling")},
    )
    return run_grid(GRID, workers=1, extra_jobs=extra, quiet=True)


def test_alloop_and_peers_share_the_protocol(iris_result):
    assert {r["seed"] for r in iris_result["references"]} == {0, 1}
    by = {(c["method"], c["seed"]): c for c in iris_result["campaigns"]}
    assert len(by) == 2 * 5
    for seed in (0, 1):
        assert [p["labels"] for p in by[("alloop:margin", seed)]["curve"]] == list(range(6, 31, 6))
        assert [p["labels"] for p in by[("modAL:margin_sampling", seed)]["curve"]] == list(
            range(6, 31, 6)
        )
        assert [p["labels"] for p in by[("alloop:random", seed)]["curve"]][
            -1
        ] == 60  # random runs 2x the budget
        # same split, same first labels, same model: the first points agree exactly
        firsts = {
            by[(m, seed)]["curve"][0]["accuracy"]
            for m in (
                "alloop:margin",
                "alloop:random",
                "modAL:margin_sampling",
                "small-text:BreakingTies",
            )
        }
        assert len(firsts) == 1


def test_margin_is_margin_in_every_loop(iris_result):
    curves = {c["method"]: c["curve"] for c in iris_result["campaigns"] if c["seed"] == 0}
    ours = [p["accuracy"] for p in curves["alloop:margin"]]
    assert ours == [p["accuracy"] for p in curves["modAL:margin_sampling"]]
    assert ours == [p["accuracy"] for p in curves["small-text:BreakingTies"]]


def test_summary_verdicts_and_forecast_evaluation(iris_result):
    rows = summarize(iris_result)
    assert rows[0]["method"] == "alloop:random"
    margin = next(r for r in rows if r["method"] == "alloop:margin")
    assert 0 < margin["aubc"]["mean"] <= 1 and margin["seeds"] == 2
    assert set(margin["saved_vs_random"]) >= {"labels", "share", "ratio", "seeds", "censored"}
    calls = verdicts(iris_result, rows, 6)
    assert calls["best_alloop"] == "alloop:margin" and calls["vs_peer"]["call"] in (
        "win",
        "tie",
        "loss",
    )
    evaluation = evaluate_forecasts(iris_result)
    assert evaluation["forecasts"] == len(evaluation["records"])


def test_outputs(iris_result, tmp_path):
    payload = write_outputs(tmp_path, [iris_result])
    for name in (
        "results.json",
        "summary.csv",
        "curves.csv",
        "results.md",
        "iris-b6.png",
        "raw.json.gz",
    ):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "iris-b6.png").stat().st_size < 200_000
    stored = json.loads((tmp_path / "results.json").read_text())  # strict JSON: no NaN
    assert stored["rows"][0]["dataset"] == "iris" and payload["target_share"] == 0.95
    assert load_raw(tmp_path)[0]["campaigns"][0]["curve"] == iris_result["campaigns"][0]["curve"]
    assert "| iris | 6 | alloop:margin |" in (tmp_path / "results.md").read_text()
    table = readme_lines(payload, fixed=("margin", "badge"))
    assert table[0].startswith("| dataset | full-data acc. | random: labels to 95% |")
    (row,) = [line for line in table if line.startswith("| iris |")]
    assert row.count("|") == 10 and row.rstrip("| ").split("| ")[-1].count("/") == 1
    assert table[-1].startswith("Labels ÷ random's for each strategy fixed in advance")
    assert "margin: iris " in table[-1] and "badge: iris not run" in table[-1]


def test_parallel_workers_give_the_same_curves(iris_result):
    grid = Grid(data=GRID.data, strategies=("margin",), seeds=(1,), budget=30)
    parallel = run_grid(grid, workers=2, quiet=True)
    serial = next(
        c for c in iris_result["campaigns"] if c["method"] == "alloop:margin" and c["seed"] == 1
    )
    strip = lambda curve: [(p["labels"], p["accuracy"], p["macro_f1"]) for p in curve]
    assert strip(parallel["campaigns"][0]["curve"]) == strip(serial["curve"])
    assert parallel["campaigns"][0]["labeled"] == serial["labeled"]


def test_strategy_entries_carry_parameters():
    from alloop.simulate.grid import parse_strategy, split_strategies, strategy_label

    entries = split_strategies("random, prefilter[diversify=typiclust,m=40],margin")
    assert entries == ("random", "prefilter[diversify=typiclust,m=40]", "margin")
    assert parse_strategy(entries[1]) == ("prefilter", {"diversify": "typiclust", "m": 40})
    assert parse_strategy("information_density[beta=0.5,similarity=cosine]")[1] == {"beta": 0.5, "similarity": "cosine"}
    assert strategy_label(*parse_strategy(entries[1])) == entries[1]
    nested = 'tcm[then=prefilter,then_params={"diversify":"typiclust","m_mult":20}]'
    assert split_strategies(f"margin,{nested}") == ("margin", nested)
    assert parse_strategy(nested) == ("tcm", {"then": "prefilter", "then_params": {"diversify": "typiclust", "m_mult": 20}})
    with pytest.raises(ValueError, match="brackets"):
        parse_strategy("prefilter[m=4")


def test_a_parameterised_strategy_runs_under_its_own_name():
    grid = Grid(data=GRID.data, strategies=("prefilter[diversify=kmeans_pp,m=12]",), seeds=(0,), budget=18)
    campaign = run_grid(grid, workers=1, quiet=True)["campaigns"][0]
    assert campaign["method"] == "alloop:prefilter[diversify=kmeans_pp,m=12]"
    assert campaign["strategy_params"] == {"diversify": "kmeans_pp", "m": 12}
    assert len(campaign["labeled"]) == 18


def test_cli_on_the_catalog_and_on_a_user_file(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "simulate",
            "wine",
            "--strategies",
            "random,margin",
            "--seeds",
            "2",
            "--workers",
            "1",
            "--budget",
            "24",
            "--out",
            str(tmp_path / "wine"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "wine" / "wine-b6.png").is_file() and "alloop:margin" in r.output
    # not a terminal: progress comes as plain lines a log keeps, ending with the last job
    lines = [line for line in r.output.splitlines() if " jobs, " in line]
    assert len(lines) >= 2 and lines[-1].startswith("wine: 6/6 jobs") and "left" in lines[-1]
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    user = tmp_path / "mine.csv"
    user.write_text(
        "a,b,c,d,species\n" + "".join(f"{','.join(map(str, x))},{t}\n" for x, t in zip(X, y))
    )
    r = runner.invoke(
        app,
        [
            "simulate",
            str(user),
            "--label-column",
            "species",
            "--seeds",
            "1",
            "--workers",
            "1",
            "--budget",
            "30",
            "--eval-size",
            "50",
            "--out",
            str(tmp_path / "mine"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (
        json.loads((tmp_path / "mine" / "results.json").read_text())["datasets"][0]["dataset"]
        == "mine"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "neither a catalog dataset"),
        (["iris", "--strategies", "bogus"], "unknown strategy"),
        (["iris", "--strategies", "prefilter[bogus=1]"], "does not accept ['bogus']"),
        (["iris", "--strategies", "prefilter[m]"], "expected key=value"),
        (["iris", "--peers", "modAL:bogus"], "unknown peer"),
        (["iris", "--seeds", "x"], "integers"),
    ],
)
def test_cli_rejects_bad_input_clearly(tmp_path, args, message):
    r = CliRunner().invoke(app, ["simulate", *args, "--workers", "1", "--out", str(tmp_path)])
    assert r.exit_code != 0 and message in r.output


def test_peers_run_from_first_labels_of_one_class():
    """sms_spam, seed 6: the first twenty labels are all 'ham'; the peers' loops must still run."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    from alloop.simulate.peers import OneClassSafe

    X = np.arange(12, dtype=float).reshape(6, 2)
    model = clone(OneClassSafe(LogisticRegression(), n_classes=3)).fit(X[:3], np.array([1, 1, 1]))
    np.testing.assert_array_equal(model.predict_proba(X[:2]), [[0, 1, 0], [0, 1, 0]])
    assert model.classes_.tolist() == [0, 1, 2] and model.predict(X[:1]).tolist() == [1]
    model.fit(X, np.array([0, 0, 0, 2, 2, 2]), sample_weight=np.ones(6))
    assert model.classes_.tolist() == [0, 2] and model.predict_proba(X).shape == (6, 2)


def toy_result(curves, budget=100):
    """A result shaped like run_grid's: ``{(method, seed): [(labels, accuracy), ...]}``, full-data accuracy 1."""
    seeds = sorted({seed for _, seed in curves})
    campaigns = [
        {"source": "alloop", "method": method, "seed": seed, "batch_size": 10, "seconds": 1.0,
         "curve": [{"labels": n, "accuracy": a, "macro_f1": a} for n, a in points]}
        for (method, seed), points in curves.items()
    ]  # fmt: skip
    return {"dataset": "toy", "encoder": None, "protocol": {"budget": budget, "initial": 20},
            "batch_sizes": [10], "references": [{"seed": s, "accuracy": 1.0} for s in seeds],
            "campaigns": campaigns}  # fmt: skip


TOY = {
    ("alloop:margin", 0): [(20, 0.96), (60, 0.97), (100, 0.98)],
    ("alloop:margin", 1): [(20, 0.50), (60, 0.80), (100, 0.96)],
    ("alloop:random", 0): [(20, 0.96), (100, 0.96), (200, 0.97)],
    ("alloop:random", 1): [(20, 0.50), (100, 0.60), (200, 0.96)],  # random runs to 2x the budget
}


def test_summary_intervals_stay_within_what_is_possible():
    rows = {r["method"]: r for r in summarize(toy_result(TOY))}
    margin, random = rows["alloop:margin"], rows["alloop:random"]
    # 20 and 100 labels from 2 seeds: the t interval reaches below zero; 20 are the initial labels
    assert margin["labels_to_target"]["lo_unclipped"] < 0
    assert (margin["labels_to_target"]["lo"], margin["labels_to_target"]["hi"]) == (20, 100)
    assert (random["labels_to_target"]["lo"], random["labels_to_target"]["hi"]) == (20, 200)
    for row in (margin, random):
        assert row["labels_to_target"]["clipped"] and row["labels_to_target"]["few_seeds"]
        assert 0 <= row["aubc"]["lo"] and row["aubc"]["hi"] <= 1 and row["aubc"]["clipped"]
        assert row["aubc_macro_f1"]["hi"] <= 1
        assert all(0 <= ci["lo"] and ci["hi"] <= 1 for ci in row["accuracy_at"].values())
        assert -1 <= row["aubc_gain_vs_random"]["lo"] and row["aubc_gain_vs_random"]["hi"] <= 1
        assert row["saved_vs_random"]["share"]["hi"] <= 1
    assert margin["saved_vs_random"]["share"]["hi"] == pytest.approx(1 - 20 / 200)


def test_fmt_ci_marks_cut_and_few_seed_intervals():
    from alloop.simulate.metrics import mean_ci
    from alloop.simulate.report import fmt_ci, fmt_pct

    assert fmt_ci(mean_ci([20, 492], bounds=(20, 600)), 0) == "256 [20, 600]‡ (2 seeds)"
    cut = {"mean": 256, "lo": 20, "hi": 506, "n": 6, "clipped": True, "few_seeds": False}
    assert fmt_ci(cut, 0) == "256 [20, 506]‡"
    plain = mean_ci([0.91, 0.92, 0.90, 0.93, 0.91], bounds=(0.0, 1.0))
    assert fmt_ci(plain).endswith("]") and "‡" not in fmt_ci(plain) and "seeds" not in fmt_ci(plain)
    assert fmt_ci(mean_ci([320], bounds=(20, 600)), 0) == "320 (1 seed)"  # no interval from one seed
    share = mean_ci([0.95, 0.0625], bounds=(None, 1.0))
    assert fmt_pct(share) == f"51% [{100 * share['lo']:.0f}%, 100%]‡ (2 seeds)"


def test_results_markdown_explains_the_marks_and_splits_the_forecast_counts():
    from alloop.simulate.pipeline import results_markdown
    from alloop.simulate.report import CI_NOTE

    result = toy_result(TOY)
    rows = summarize(result)
    entry = {"dataset": "toy", "encoder": None, "references": result["references"],
             "verdicts": {"10": verdicts(result, rows, 10)}, "forecast": evaluate_forecasts(result),
             "protocol": {**result["protocol"], "eval_size": 0.4, "random_factor": 2.0}, "batch_sizes": [10],
             "seeds": [0, 1], "model": {"name": "svm", "params": {"C": 2}}}  # fmt: skip
    text = results_markdown({"target_share": 0.95, "datasets": [entry], "rows": rows})
    # the protocol of every dataset, parameters included (a run from before the full record reads too)
    assert "- toy: model svm[C=2]; eval 0.4; scale as loaded; first labels 20 random; batch 10; budget" in text
    assert "‡ (2 seeds)" in text and CI_NOTE in text and "‡" in CI_NOTE and "(k seeds)" in CI_NOTE
    (row,) = [line for line in text.splitlines() if line.startswith("| toy | 2 |")]
    assert row.count("|") == 11  # forecasts, no estimate, within budget, errors, coverage, open, past, never
    assert "reached past budget, called right" in text and "open intervals" in text
