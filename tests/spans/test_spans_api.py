"""Spans projects over HTTP: defaults, every bad configuration and bad answer a 422 that changes nothing."""

from __future__ import annotations

import pytest
from spans_helpers import spans_body
from helpers import project_body

TEXT = "Bill Gates founded Microsoft in Albuquerque"


def _items(client, pid, texts=(TEXT, "nothing here", "Paris is nice")):
    body = {"items": [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]}
    assert client.post(f"/projects/{pid}/items", json=body).status_code == 200


def test_a_spans_project_trains_a_tagger_ranked_by_mnlp_unless_told(client):
    project = client.post("/projects", json=spans_body()).json()
    assert project["task"] == "spans"
    assert project["model"]["name"] == "token_tagger" and project["strategy"]["name"] == "mnlp"


@pytest.mark.parametrize(("change", "says"), [
    ({"strategy": {"name": "margin"}}, "mnlp"),
    ({"strategy": {"name": "token_entropy", "params": {"aggregate": "max"}}}, "'sum' or 'mean'"),
    ({"strategy": {"name": "mnlp", "params": {"k": 1}}}, "does not accept"),
    ({"model": {"name": "logistic_regression"}}, "token_tagger"),
    ({"model": {"name": "token_tagger", "params": {"layers": 2}}}, "unknown parameter"),
    ({"target": {"metric": "accuracy", "value": 0.5}}, "entity_f1"),
    ({"labels_per_item": 2}, "overlap"),
    ({"review": {}}, "review"),
    ({"dedup": "propagate"}, "'skip' or 'off'"),
    ({"input": "vector"}, "needs input 'text'"),
])
def test_a_spans_configuration_it_cannot_run_is_422(client, change, says):
    response = client.post("/projects", json=spans_body(**change))
    assert response.status_code == 422, response.text
    assert says in response.text
    assert client.get("/projects").json()["projects"] == []


def test_entity_f1_is_no_target_for_a_classification_project(client):
    response = client.post("/projects", json=project_body(target={"metric": "entity_f1", "value": 0.5}))
    assert response.status_code == 422 and "spans projects" in response.text


def test_a_patch_to_a_classification_strategy_is_422_and_a_sequence_one_is_taken(client, spans_project):
    response = client.patch(f"/projects/{spans_project}", json={"strategy": {"name": "entropy"}})
    assert response.status_code == 422 and "least_confidence_sequence" in response.text
    assert client.get(f"/projects/{spans_project}").json()["strategy"]["name"] == "mnlp"
    response = client.patch(f"/projects/{spans_project}", json={"strategy": {"name": "token_entropy",
                                                                              "params": {"aggregate": "sum"}}})
    assert response.status_code == 200 and response.json()["strategy"]["name"] == "token_entropy"
    assert client.patch(f"/projects/{spans_project}", json={"target": {"metric": "entity_f1", "value": 0.6}}).status_code == 200
    for change in ({"labels_per_item": 3}, {"dedup": "propagate"}, {"target": {"metric": "macro_f1", "value": 0.5}}):
        assert client.patch(f"/projects/{spans_project}", json=change).status_code == 422
    after = client.get(f"/projects/{spans_project}").json()
    assert (after["labels_per_item"], after["dedup"], after["target"]["metric"]) == (1, "skip", "entity_f1")


def test_spans_are_stored_sorted_and_exported_as_lists(client, spans_project):
    pid = spans_project
    _items(client, pid)
    answer = [{"start": 19, "end": 28, "label": "corporation"}, {"start": 0, "end": 10, "label": "person"}]
    response = client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "t0", "label": answer, "annotator": "a"}, {"item_id": "t1", "label": [], "annotator": "a"}]})
    assert response.status_code == 200 and response.json()["accepted"] == 2
    rows = {r["item_id"]: r for r in client.get(f"/projects/{pid}/export?format=json").json()}
    assert rows["t0"]["label"] == sorted(answer, key=lambda s: s["start"])
    assert rows["t1"]["label"] == []
    csv = client.get(f"/projects/{pid}/export?format=csv").text
    assert '[{""start"":0,""end"":10,""label"":""person""}' in csv


@pytest.mark.parametrize(("answer", "says"), [
    ([{"start": 30, "end": 99, "label": "location"}], "out of range"),
    ([{"start": 5, "end": 5, "label": "person"}], "out of range"),
    ([{"start": 0, "end": 4, "label": "politician"}], "not one of"),
    ([{"start": 0, "end": 10, "label": "person"}, {"start": 5, "end": 10, "label": "person"}], "overlap"),
    ([{"start": 0, "end": 5, "label": "person"}], "whitespace"),
    ("person", "list of {start, end, label}"),
    (["person"], "a span is {start, end, label}"),
])
def test_a_bad_span_answer_is_422_and_nothing_of_the_batch_is_written(client, spans_project, answer, says):
    pid = spans_project
    _items(client, pid)
    response = client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "t2", "label": [{"start": 0, "end": 5, "label": "location"}]},
        {"item_id": "t0", "label": answer}]})
    assert response.status_code == 422, response.text
    assert "labels.1" in response.text and says in response.text
    assert client.get(f"/projects/{pid}").json()["labeled"] == 0
    assert client.get(f"/projects/{pid}/export?format=json").json() == []


def test_an_eval_item_with_bad_gold_spans_is_422_and_nothing_is_imported(client, spans_project):
    items = [{"id": "e0", "text": "Paris", "label": [{"start": 0, "end": 5, "label": "location"}]},
             {"id": "e1", "text": "Rome", "label": [{"start": 0, "end": 9, "label": "location"}]}]
    response = client.post(f"/projects/{spans_project}/items", json={"split": "eval", "items": items})
    assert response.status_code == 422 and "items.1" in response.text and "out of range" in response.text
    assert client.get(f"/projects/{spans_project}").json()["eval_size"] == 0


def test_the_dataset_card_counts_entities_per_type(client, spans_project):
    pid = spans_project
    _items(client, pid)
    client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "t0", "label": [{"start": 0, "end": 10, "label": "person"},
                                    {"start": 19, "end": 28, "label": "corporation"}]},
        {"item_id": "t2", "label": [{"start": 0, "end": 5, "label": "location"}]}]})
    card = client.get(f"/projects/{pid}/card?format=json").json()
    balance = {c["label"]: c["labeled"] for c in card["class_balance"]["classes"]}
    assert balance == {"corporation": 1, "creative-work": 0, "group": 0, "location": 1, "person": 1, "product": 0}
    assert card["class_balance"]["entities"]["labeled"] == 3
    assert "3 in the labels" in client.get(f"/projects/{pid}/card").text
