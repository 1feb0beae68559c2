"""Multi-label projects over HTTP: label sets in, checked, stored canonically, served and exported."""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import wait_for, wait_for_ranking
from multilabel_data import LABELS, answer, ml_body, ml_data, ml_items


@pytest.fixture(scope="module")
def data():
    return ml_data()


def _project(client, data, pool: int = 200, evals: int = 60, **overrides) -> int:
    X, Y = data
    response = client.post("/projects", json=ml_body(**overrides))
    assert response.status_code == 201, response.text
    pid = response.json()["id"]
    assert client.post(f"/projects/{pid}/items", json=ml_items(X, range(pool))).status_code == 200
    if evals:
        response = client.post(f"/projects/{pid}/items", json=ml_items(X, range(pool, pool + evals), Y, "eval"))
        assert response.status_code == 200, response.text
    return pid


def test_a_multilabel_project_gets_the_multilabel_default_strategy(client):
    project = client.post("/projects", json=ml_body()).json()
    assert project["task"] == "multilabel"
    assert project["strategy"]["name"] == "mmc"


def test_label_sets_are_stored_in_the_projects_label_order(client, data):
    pid = _project(client, data, evals=0)
    response = client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "m0", "label": ["pink", "red"], "annotator": "ann"},
        {"item_id": "m1", "label": [], "annotator": "ann"},
        {"item_id": "m2", "label": ["green"], "annotator": "ann"},
    ]})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3
    rows = {r["item_id"]: r for r in map(json.loads, client.get(f"/projects/{pid}/export").text.splitlines())}
    assert rows["m0"]["label"] == ["red", "pink"]
    assert rows["m1"]["label"] == []
    assert rows["m2"]["label"] == ["green"]
    assert rows["m0"]["votes"][0]["label"] == ["red", "pink"]


def test_the_same_set_in_another_order_is_a_duplicate_not_a_second_label(client, data):
    pid = _project(client, data, evals=0)
    first = client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "m0", "label": ["blue", "red"]}]})
    again = client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "m0", "label": ["red", "blue"]}]})
    assert first.json()["accepted"] == 1 and again.json()["duplicates"] == 1
    assert client.get(f"/projects/{pid}").json()["labeled"] == 1


def test_csv_export_writes_the_set_as_json(client, data):
    pid = _project(client, data, evals=0)
    client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "m3", "label": ["cyan", "blue"]}]})
    rows = list(csv.DictReader(io.StringIO(client.get(f"/projects/{pid}/export?format=csv").text)))
    assert json.loads(rows[0]["label"]) == ["blue", "cyan"]


BAD_ANSWERS = [
    ("red", "list of labels"),
    (["red", "purple"], "'purple' is not one of"),
    (["red", "red"], "more than once"),
    ([{"start": 0, "end": 1, "label": "red"}], "label names"),
]


@pytest.mark.parametrize(("bad", "says"), BAD_ANSWERS)
def test_a_bad_label_set_is_422_naming_it_and_writes_nothing(client, data, bad, says):
    pid = _project(client, data, evals=0)
    response = client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "m0", "label": ["red"]}, {"item_id": "m1", "label": bad}]})
    assert response.status_code == 422
    assert "labels.1" in response.text and says in response.text
    assert client.get(f"/projects/{pid}").json()["labeled"] == 0
    assert client.get(f"/projects/{pid}/export").text == ""


def test_a_bad_eval_gold_is_422_and_imports_nothing(client, data):
    X, Y = data
    pid = client.post("/projects", json=ml_body()).json()["id"]
    body = ml_items(X, range(3), Y, "eval")
    body["items"][2]["label"] = ["red", "mauve"]
    response = client.post(f"/projects/{pid}/items", json=body)
    assert response.status_code == 422 and "items.2" in response.text and "mauve" in response.text
    assert client.get(f"/projects/{pid}").json()["eval_size"] == 0


CREATE_422 = [
    ({"strategy": {"name": "margin"}}, "binary_entropy_mean"),
    ({"strategy": {"name": "bald"}}, "mmc"),
    ({"target": {"metric": "accuracy", "value": 0.9}}, "micro_f1"),
    ({"labels_per_item": 2}, "labels_per_item"),
    ({"review": {}}, "review"),
    ({"model": {"name": "no_such_model"}}, "unknown model"),
]


@pytest.mark.parametrize(("change", "says"), CREATE_422)
def test_settings_a_multilabel_project_cannot_take_are_422(client, change, says):
    response = client.post("/projects", json=ml_body(**change))
    assert response.status_code == 422, response.text
    assert says in response.text
    assert client.get("/projects").json()["projects"] == []


@pytest.mark.parametrize("strategy", ["mmc", "br_margin", "binary_entropy_max", "cardinality_inconsistency"])
def test_a_multilabel_strategy_on_a_classification_project_is_422_listing_the_accepted(client, strategy):
    body = ml_body(task="classification", strategy={"name": strategy})
    response = client.post("/projects", json=body)
    assert response.status_code == 422
    assert "margin" in response.text and "entropy" in response.text


def test_a_multilabel_target_on_a_classification_project_is_422(client):
    response = client.post("/projects", json=ml_body(task="classification", target={"metric": "micro_f1", "value": 0.9}))
    assert response.status_code == 422 and "accuracy" in response.text


@pytest.mark.parametrize(("change", "says"), [
    ({"strategy": {"name": "entropy"}}, "mmc"),
    ({"target": {"metric": "accuracy", "value": 0.5}}, "subset_accuracy"),
    ({"labels_per_item": 3}, "labels_per_item"),
])
def test_a_patch_a_multilabel_project_cannot_take_is_422_and_changes_nothing(client, change, says):
    pid = client.post("/projects", json=ml_body(target={"metric": "micro_f1", "value": 0.95})).json()["id"]
    before = client.get(f"/projects/{pid}").json()
    response = client.patch(f"/projects/{pid}", json=change)
    assert response.status_code == 422 and says in response.text
    after = client.get(f"/projects/{pid}").json()
    assert {k: after[k] for k in ("strategy", "target", "labels_per_item")} == \
        {k: before[k] for k in ("strategy", "target", "labels_per_item")}


def test_a_patch_to_another_multilabel_strategy_and_target_is_taken(client):
    pid = client.post("/projects", json=ml_body()).json()["id"]
    response = client.patch(f"/projects/{pid}", json={"strategy": {"name": "mmc"},
                                                      "target": {"metric": "subset_accuracy", "value": 0.5}})
    assert response.status_code == 200, response.text
    assert response.json()["strategy"]["name"] == "mmc"


def _label_round(client, pid, data, n=10):
    X, Y = data
    served = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": n}).json()
    labels = [{"item_id": it["id"], "label": answer(Y[int(it["id"][1:])]), "annotator": "a"} for it in served["items"]]
    assert client.post(f"/projects/{pid}/labels", json={"labels": labels}).status_code == 200
    return served


def test_next_suggests_a_label_set_once_a_model_exists(client, data):
    pid = _project(client, data, suggest=True, budget=None)
    wait_for_ranking(client, pid)
    for _ in range(2):
        _label_round(client, pid, data)
    wait_for(client, pid, lambda s: s["model_version"] is not None and s["ranking"]["strategy"] == "mmc")
    items = client.post(f"/projects/{pid}/next", json={"annotator": "b", "n": 3}).json()["items"]
    suggestion = items[0]["suggestion"]
    assert set(suggestion["label"]) <= set(LABELS)
    assert set(suggestion["probabilities"]) == set(LABELS)
    assert suggestion["label"] == [name for name in LABELS if suggestion["probabilities"][name] > 0.5]


def test_status_metrics_and_forecast_report_multilabel_metrics(client, data):
    pid = _project(client, data, budget=None, target={"metric": "micro_f1", "value": 0.99})
    wait_for_ranking(client, pid)
    for _ in range(4):
        _label_round(client, pid, data)
    status = wait_for(client, pid, lambda s: s["model_version"] is not None and s["model_version"] >= 3)
    for key in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"):
        assert 0.0 <= status["metrics"][key] <= 1.0
    curve = client.get(f"/projects/{pid}/metrics").json()["curve"]
    assert all("micro_f1" in point for point in curve)
    forecast = client.get(f"/projects/{pid}/forecast")
    assert forecast.status_code == 200 and forecast.json()["metric"] == "micro_f1"
    wrong = client.get(f"/projects/{pid}/forecast?metric=accuracy")
    assert wrong.status_code == 422 and "micro_f1" in wrong.text
    card = client.get(f"/projects/{pid}/card?format=json").json()
    assert card["class_balance"]["per_item"] is True
    given = [json.loads(line)["label"] for line in client.get(f"/projects/{pid}/export").text.splitlines()]
    per_label = {c["label"]: c["labeled"] for c in card["class_balance"]["classes"]}
    assert per_label == {name: sum(name in labels for labels in given) for name in LABELS}
    assert card["class_balance"]["empty_sets"] == sum(not labels for labels in given)
    assert client.get(f"/projects/{pid}/card").status_code == 200


def test_a_target_on_micro_f1_stops_the_campaign(client, data):
    pid = _project(client, data, budget=None, target={"metric": "micro_f1", "value": 0.05})
    wait_for_ranking(client, pid)
    _label_round(client, pid, data)
    status = wait_for(client, pid, lambda s: s["state"] == "done")
    assert status["stop_reason"] == "target_reached"
    assert client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 1}).json()["done"] is True
