"""A paper's protocol through ``alloop simulate``: model parameters, eval share, whole-pool budget,
scaling, first labels per class, the protocol record, and checks before any work starts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_classification
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from typer.testing import CliRunner

from alloop.cli import app
from alloop.simulate import command
from alloop.simulate.datasets import DataRef, first_labels, load_dataset, make_split, read_user_file
from alloop.simulate.grid import Grid
from alloop.simulate.runner import CampaignSpec, run_campaign

SVM = {"name": "svm", "params": {"gamma": "auto"}, "calibration": "none", "one_class_rescue": False}


@pytest.fixture(scope="module")
def svmlight(tmp_path_factory):
    """150 binary items (60 / 90) in libsvm format, labels -1 / +1 as UCI sets ship them."""
    X, y = make_classification(n_samples=150, n_features=6, n_informative=4, weights=[0.4], random_state=3)
    path = tmp_path_factory.mktemp("uci") / "toy.svmlight"
    dump_svmlight_file(X * 5 + 3, np.where(y == 1, 1, -1), str(path))
    return path


def test_svmlight_files_read_with_integer_labels(svmlight):
    X, texts, raw = read_user_file(svmlight)
    assert X.shape == (150, 6) and texts is None and sorted(set(raw)) == [-1, 1]
    assert load_dataset(DataRef(path=str(svmlight))).labels == ["-1", "1"]


def test_a_broken_svmlight_file_is_named(tmp_path):
    bad = tmp_path / "bad.svmlight"
    bad.write_text("1 1:0.5\nnot a row\n")
    with pytest.raises(ValueError, match="bad.svmlight: not a valid svmlight file"):
        read_user_file(bad)


def test_model_brackets_and_json_params_are_checked_before_any_work():
    assert command.parse_model("svm[gamma=auto,C=1]") == {
        "name": "svm", "params": {"gamma": "auto", "C": 1}, "calibration": "none", "one_class_rescue": True,
    }
    merged = command.parse_model("svm[gamma=auto]", '{"C": 2.5}', calibration="sigmoid", one_class_rescue=False)
    assert merged["params"] == {"gamma": "auto", "C": 2.5} and merged["calibration"] == "sigmoid"
    assert merged["one_class_rescue"] is False
    with pytest.raises(ValueError, match="gamma"):
        command.parse_model("svm[gamma=bogus]")
    with pytest.raises(ValueError, match="'C' parameter"):
        command.parse_model("svm", '{"C": -1}')
    with pytest.raises(ValueError, match="given both"):
        command.parse_model("svm[C=1]", '{"C": 2}')
    with pytest.raises(ValueError, match="JSON object"):
        command.parse_model("svm", "[1, 2]")
    with pytest.raises(ValueError, match="not JSON"):
        command.parse_model("svm", "{gamma: auto}")
    with pytest.raises(ValueError, match="need --model"):
        command.parse_model(None, '{"C": 2}')
    with pytest.raises(ValueError, match="unknown model"):
        command.parse_model("svn")


def test_budget_and_eval_size_accept_what_papers_say():
    assert command.parse_budget("all") == "all" and command.parse_budget("120") == 120
    assert command.parse_eval_size("0.4") == 0.4 and command.parse_eval_size("400") == 400
    for bad in ("0", "-3", "lots"):
        with pytest.raises(ValueError, match="--budget"):
            command.parse_budget(bad)
    for bad in ("0", "1.5", "-0.2", "forty"):
        with pytest.raises(ValueError, match="--eval-size"):
            command.parse_eval_size(bad)


def test_a_bad_model_parameter_fails_before_any_data_is_read(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["simulate", str(tmp_path / "missing.csv"), "--model", "svm[gamma=bogus]",
                                      "--out", str(out)])
    assert result.exit_code == 2 and "gamma" in result.output and not out.exists()
    result = CliRunner().invoke(app, ["simulate", "iris", "--initial", "5", "--initial-per-class", "2",
                                      "--out", str(out)])
    assert result.exit_code == 2 and "exclude each other" in result.output
    result = CliRunner().invoke(app, ["simulate", "iris", "--scale", "minmax", "--out", str(out)])
    assert result.exit_code == 2 and "'train', 'all' or 'none'" in result.output


def test_grid_resolves_a_share_the_whole_pool_and_first_labels_per_class(svmlight):
    data = load_dataset(DataRef(path=str(svmlight)))
    grid = Grid(data=DataRef(path=str(svmlight)), budget="all", eval_size=0.4, initial_per_class=3, scale="train")
    protocol = grid.protocol(data.protocol, data.y.size, len(data.labels))
    assert (protocol.budget, protocol.initial, protocol.scale) == (90, 6, "train")  # 150 - ceil(0.4 * 150)
    split = make_split(data, 0, protocol)
    assert split.y_eval.size == 60 and split.y_pool.size == 90
    capped = Grid(data=grid.data, budget="all", eval_size=50, pool_size=70).protocol(data.protocol, data.y.size)
    assert capped.budget == 70
    with pytest.raises(ValueError, match="leaves no pool"):
        make_split(data, 0, Grid(data=grid.data, eval_size=150).protocol(data.protocol, data.y.size))


def test_scaling_fits_on_the_pool_the_whole_set_or_nothing(svmlight):
    data = load_dataset(DataRef(path=str(svmlight)))
    base = data.protocol
    grids = {s: Grid(data=DataRef(path=str(svmlight)), eval_size=0.4, scale=s).protocol(base, 150) for s in
             ("train", "all", "none")}
    train, whole, raw = (make_split(data, 0, grids[s]) for s in ("train", "all", "none"))
    assert np.allclose(train.X_pool.mean(axis=0), 0, atol=1e-5) and np.allclose(train.X_pool.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(train.X_eval.mean(axis=0), 0, atol=1e-3)  # the eval part is scaled by the pool's scaler
    expected = StandardScaler().fit(raw.X_pool).transform(raw.X_eval)
    assert np.allclose(train.X_eval, expected, atol=1e-5)
    together = np.vstack([whole.X_pool, whole.X_eval])
    assert np.allclose(together.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(raw.X_pool.mean(axis=0), data.X[:].mean(axis=0), atol=1.0) and raw.X_pool.mean() > 1


def test_first_labels_hold_every_class_and_follow_the_seed():
    y = np.array([0] * 50 + [1] * 5 + [2] * 2)
    chosen = first_labels(y, seed=4, per_class=3)
    assert np.bincount(y[chosen]).tolist() == [3, 3, 2]
    assert np.array_equal(chosen, first_labels(y, seed=4, per_class=3))
    assert not np.array_equal(chosen, first_labels(y, seed=5, per_class=3))


def test_a_batch_one_campaign_starts_from_its_first_labels_and_runs_to_the_whole_pool(svmlight):
    data = load_dataset(DataRef(path=str(svmlight)))
    grid = Grid(data=DataRef(path=str(svmlight)), budget="all", eval_size=0.4, scale="train")
    protocol = grid.protocol(data.protocol, data.y.size, len(data.labels))
    split = make_split(data, 1, protocol)
    spec = CampaignSpec(strategy="margin", seed=1, batch_size=1, budget=protocol.budget, initial=20, model=SVM)
    result = run_campaign(split, spec)
    labels = [p["labels"] for p in result["curve"]]
    # the 20 first labels arrive as one batch (no staleness cap in a simulation), then one per round
    assert labels == list(range(20, 91)) and result["stop_reason"] in ("budget_exhausted", "pool_exhausted")
    per_class = run_campaign(split, CampaignSpec(strategy="margin", seed=1, batch_size=1, budget=30, initial=4,
                                                 initial_per_class=2, model=SVM))
    first = per_class["labeled"][:4]
    assert per_class["curve"][0]["labels"] == 4 and sorted(split.y_pool[first].tolist()) == [0, 0, 1, 1]


def test_svm_margin_campaign_is_the_plain_us_c_loop(svmlight):
    """Same first labels, SVC(gamma='auto'), smallest |decision_function| next: the same items, the same accuracy."""
    data = load_dataset(DataRef(path=str(svmlight)))
    protocol = Grid(data=DataRef(path=str(svmlight)), eval_size=0.4, scale="train", budget=60).protocol(
        data.protocol, data.y.size)
    split = make_split(data, 2, protocol)
    result = run_campaign(split, CampaignSpec(strategy="margin", seed=2, batch_size=1, budget=60, initial=10,
                                              model=SVM))
    labeled = list(result["labeled"][:10])
    accuracy = []
    while True:
        svc = SVC(gamma="auto").fit(split.X_pool[labeled], split.y_pool[labeled])
        accuracy.append(float(np.mean(svc.predict(split.X_eval) == split.y_eval)))
        if len(labeled) == 60:
            break
        rest = np.setdiff1d(np.arange(split.y_pool.size), labeled)
        labeled.append(int(rest[np.argmin(np.abs(svc.decision_function(split.X_pool[rest])))]))
    assert result["labeled"] == labeled
    assert [p["accuracy"] for p in result["curve"]] == accuracy


def test_results_record_the_protocol_that_ran_and_the_table_shows_parameters(svmlight, tmp_path, capsys):
    options = {
        "strategies": ("random", "prefilter[diversify=kmeans_pp,m=12]"), "seeds": (0,), "batch_sizes": (1,),
        "budget": 30, "initial": None, "initial_per_class": 2, "eval_size": 0.4, "pool_size": None,
        "scale": "train", "random_factor": None, "round_files": False,
        "model": command.parse_model("svm[gamma=auto]", one_class_rescue=False), "cold_start": "random",
        "label_column": "label", "text_column": "text", "encoder": "hashing", "cache_dir": None,
    }
    payload = command.run_command([str(svmlight)], options=options, out=tmp_path, workers=1, peers=None, share=0.9,
                                  quiet=False)
    recorded = json.loads((tmp_path / "results.json").read_text())["datasets"][0]["protocol"]
    assert recorded["batch_sizes"] == [1] and recorded["model"]["name"] == "svm"
    assert recorded["model"]["params"] == {"gamma": "auto"} and recorded["model"]["one_class_rescue"] is False
    assert (recorded["eval_size"], recorded["scale"], recorded["initial_per_class"], recorded["initial"]) == (
        0.4, "train", 2, 4)
    assert recorded["budget"] == 30 and recorded["budget_all"] is False and recorded["random_budget"] == 60
    assert payload["datasets"][0]["protocol"] == recorded
    shown = capsys.readouterr().out
    assert "alloop:prefilter[diversify=kmeans_pp,m=12]" in shown
    assert "model svm[gamma=auto], no one-class rescue" in shown and "first labels 2 per class" in shown


def test_peers_take_the_same_first_labels_per_class_and_refuse_a_model_without_probabilities(svmlight):
    from alloop.simulate.peers import check_peer_model, peer_curve

    data = load_dataset(DataRef(path=str(svmlight)))
    split = make_split(data, 0, Grid(data=DataRef(path=str(svmlight)), eval_size=0.4).protocol(data.protocol, 150))
    lr = {"name": "logistic_regression", "params": {}}
    peer = peer_curve(split, "modAL", "margin_sampling", seed=0, batch=5, budget=20, initial=6, model=lr,
                      initial_per_class=3)
    mine = run_campaign(split, CampaignSpec(strategy="margin", seed=0, batch_size=5, budget=20, initial=6,
                                            initial_per_class=3, model=lr))
    assert [p["accuracy"] for p in peer] == [p["accuracy"] for p in mine["curve"]]
    with pytest.raises(ValueError, match="predict_proba"):
        check_peer_model(SVM, 2)
    with pytest.raises(ValueError, match="calibrated"):
        check_peer_model({**lr, "calibration": "sigmoid"}, 2)
    result = CliRunner().invoke(app, ["simulate", str(svmlight), "--model", "svm", "--peers", "modAL"])
    assert result.exit_code == 2 and "predict_proba" in result.output
