"""An SVM without calibration ranks by its decision function and scores by its own vote; calibration
is asked for, with shuffled, seeded folds; what the loop does with a one-class model, and with round
files, is the project's choice."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.svm import SVC

from alloop import campaign, strategies
from alloop.errors import Invalid
from alloop.loop import Controller
from alloop.models import UnknownModel, build_model
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import import_items
from alloop.store.labels import submit_labels
from alloop.store.rounds import curve
from alloop.store.serving import claim_next


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=240, n_features=5, n_informative=3, random_state=0)
    return X.astype(np.float32), y


def test_uncalibrated_svm_margin_is_the_distance_to_the_boundary(binary):
    X, y = binary
    model = build_model({"name": "svm", "params": {"gamma": "auto"}}, 2, seed=0)
    model.fit(X[:60], y[:60])
    plain = SVC(gamma="auto").fit(X[:60], y[:60])
    assert model.decision_mode
    distance = np.abs(plain.decision_function(X[60:]))
    decisions = model.decisions(X[60:])
    assert np.allclose(decisions[:, 1] - decisions[:, 0], plain.decision_function(X[60:]))
    scores = strategies.registry.score("margin", strategies.StrategyInputs(probs=model.predict_proba(X[60:]),
                                                                   decisions=decisions), rng=np.random.default_rng(0))
    assert np.allclose(scores, -distance)  # exact: no float32 probabilities in between
    assert np.array_equal(model.predict(X[60:]), plain.predict(X[60:]))
    probs = model.predict_proba(X[60:])
    assert np.allclose(probs.sum(axis=1), 1) and np.array_equal(probs.argmax(axis=1), plain.predict(X[60:]))


@pytest.mark.parametrize("params", [{"gamma": "auto"}, {"kernel": "linear", "C": 0.1}, {"C": 10}])
def test_one_decision_pass_gives_a_two_class_svms_own_vote(params):
    """decide: the decision values and predict's answers from one call, equal to both calls' (labels 3 and 1
    in the project's positions, the first label seen the larger one)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 4))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=400) > 0, 3, 1)
    model = build_model({"name": "svm", "params": params}, 5, seed=0)
    model.fit(X[:40], y[:40])
    assert model.predicts_by_sign
    decisions, predicted = model.decide(X[40:])
    assert np.array_equal(decisions, model.decisions(X[40:]), equal_nan=True)
    assert np.array_equal(predicted, model.predict(X[40:])) and set(predicted) == {1, 3}


def test_one_decision_pass_is_only_for_a_two_class_svm_vote():
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=1)
    three = build_model({"name": "svm"}, 3, seed=0)
    three.fit(X, y)  # one-vs-one votes: not the sign of one value
    calibrated = build_model({"name": "svm", "calibration": "sigmoid"}, 3, seed=0)
    calibrated.fit(X, y % 2)
    one = build_model({"name": "svm"}, 3, seed=0)
    one.fit(X, np.zeros_like(y))
    for model in (three, calibrated, one, build_model({"name": "logistic_regression"}, 3, seed=0)):
        assert not model.predicts_by_sign
    with pytest.raises(ValueError, match="two-class SVC"):
        three.decide(X)


def test_multiclass_margin_is_the_gap_between_the_top_two_one_vs_rest_values():
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=1)
    model = build_model({"name": "svm"}, 4, seed=0)  # a fourth class nobody labeled yet
    model.fit(X[:90], y[:90])
    plain = SVC().fit(X[:90], y[:90])
    values = plain.decision_function(X[90:])
    top = np.sort(values, axis=1)
    decisions = model.decisions(X[90:])
    assert np.all(np.isneginf(decisions[:, 3])) and np.allclose(decisions[:, :3], values)
    scores = strategies.registry.score("margin", strategies.StrategyInputs(probs=model.predict_proba(X[90:]),
                                                                   decisions=decisions), rng=np.random.default_rng(0))
    assert np.allclose(scores, top[:, -2] - top[:, -1])
    assert np.all(model.predict_proba(X[90:])[:, 3] == 0)


def test_calibration_is_asked_for_and_its_folds_ignore_label_order(binary):
    X, y = binary
    spec = {"name": "svm", "params": {"gamma": "auto"}, "calibration": "sigmoid"}
    a = build_model(spec, 2, seed=5)
    a.fit(X[:90], y[:90])
    assert not a.decision_mode and a.decisions(X[:3]) is None
    order = np.random.default_rng(1).permutation(90)
    b = build_model(spec, 2, seed=5)
    b.fit(X[:90][order], y[:90][order])
    # shuffled stratified folds under the model's seed: the same labeled set, in any order, gives one model
    assert np.allclose(a.predict_proba(X[90:]), b.predict_proba(X[90:]), atol=1e-6)
    c = build_model(spec, 2, seed=6)
    c.fit(X[:90], y[:90])
    assert not np.allclose(a.predict_proba(X[90:]), c.predict_proba(X[90:]), atol=1e-6)
    with pytest.raises(UnknownModel, match="calibration 'platt'"):
        build_model({"name": "svm", "calibration": "platt"}, 2, seed=0)


def test_a_calibrated_model_needs_two_labels_of_every_class_first(binary):
    X, y = binary
    model = build_model({"name": "svm", "calibration": "isotonic"}, 2, seed=0)
    few = np.concatenate([np.flatnonzero(y == 0)[:5], np.flatnonzero(y == 1)[:1]])
    model.fit(X[few], y[few])
    assert model.decision_mode  # one label of class 1: decision values until calibration can run


def test_project_rejects_an_unknown_calibration_with_the_accepted_values(store, settings):
    with pytest.raises(Exception, match="none.*sigmoid.*isotonic"):
        ProjectCreate(name="x", labels=["a", "b"], model={"name": "svm", "calibration": "platt"})
    with pytest.raises(Invalid, match="applies to scikit-learn models"):
        campaign.create_project(store, settings, ProjectCreate(
            name="x", labels=["a", "b"], model={"name": "torch_mlp", "calibration": "sigmoid"}))


def _skewed_campaign(store, settings, rescue: bool):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (300, 5)), rng.normal(0.6, 1, (300, 5))]).astype(np.float32)
    project = campaign.create_project(store, settings, ProjectCreate(
        name="skew", labels=["a", "b"], retrain_every=20, stabilize=None, dedup="off",
        model={"name": "logistic_regression", "params": {"C": 1e-4}, "one_class_rescue": rescue},
    ))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(600)])
    loop = Controller(store, settings)
    loop.run_pending()
    labeled = list(range(15)) + list(range(300, 305))  # 15 a, 5 b: the regularized model says "a" everywhere
    submit_labels(store, project.id, [LabelIn(item_id=i, label="ab"[i >= 300]) for i in labeled], time.time())
    assert loop.run_pending() == 1
    with store.read() as conn:
        point = curve(conn, project.id)[-1]
    return point, claim_next(store, project.id, "a", 10, time.time())


def test_without_one_class_rescue_the_model_ranks_as_fitted(store, settings):
    point, claim = _skewed_campaign(store, settings, rescue=False)
    assert "class_weight" not in point
    assert {item["strategy"] for item in claim["items"]} == {"margin"}


def test_round_files_are_written_only_when_the_settings_ask(tmp_path, binary):
    from alloop.settings import Settings
    from alloop.store import Store

    X, y = binary
    for keep in (True, False):
        settings = Settings(data_dir=tmp_path / str(keep), worker="thread", round_files=keep)
        store = Store(settings.data_dir)
        project = campaign.create_project(store, settings, ProjectCreate(
            name="files", labels=["0", "1"], retrain_every=10, stabilize=None, model={"name": "svm"},
            dedup="off"))
        import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(100)])
        loop = Controller(store, settings)
        loop.run_pending()
        submit_labels(store, project.id, [LabelIn(item_id=i, label=str(y[i])) for i in range(20)], time.time())
        assert loop.run_pending() == 1
        folder = store.project_dir(project.id)
        assert (folder / "predictions.npz").exists() is keep and (folder / "models" / "v1").exists() is keep
        with store.read() as conn:
            artifact = conn.execute("SELECT artifact FROM model_versions WHERE project_id = ?", (project.id,))
            assert (artifact.fetchone()[0] is not None) is keep
        store.close()


def test_a_refit_never_touches_the_model_fitted_before(binary):
    X, y = binary
    model = build_model({"name": "svm"}, 2, seed=0)
    model.fit(X[:40], y[:40])
    first, before = model.fitted, model.fitted.decision_function(X[100:110])
    model.fit(X[40:120], y[40:120])
    assert model.fitted is not first and np.array_equal(first.decision_function(X[100:110]), before)


def test_seeds_reach_every_estimator_that_reads_them():
    assert build_model({"name": "svm"}, 2, seed=7).template.random_state is None  # ignored without probability
    assert build_model({"name": "svm", "params": {"probability": True}}, 2, seed=7).template.random_state == 7
    assert build_model({"name": "random_forest"}, 2, seed=7).template.random_state == 7
    assert build_model({"name": "svm", "params": {"random_state": 3}}, 2, seed=7).template.random_state == 3
