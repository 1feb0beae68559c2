"""Project routes: create, list, get, patch, and the errors they give."""

from __future__ import annotations

import pytest
from helpers import project_body


def test_create_answers_the_project_with_its_id_and_defaults(client):
    r = client.post("/projects", json=project_body())
    assert r.status_code == 201
    project = r.json()
    assert project["id"] >= 1
    assert project["state"] == "running" and project["stop_reason"] is None
    assert project["strategy"] == {"name": "margin", "params": {}}
    assert project["model"]["name"] == "logistic_regression"
    assert project["cold_start"] == "kmeans++"
    assert project["stabilize"] == {"threshold": 0.99, "rounds": 3}
    assert (project["labeled"], project["unlabeled"], project["leased"]) == (0, 0, 0)


def test_stabilize_null_disables_the_rule(client):
    assert client.post("/projects", json=project_body(stabilize=None)).json()["stabilize"] is None


def test_list_and_get(client):
    first = client.post("/projects", json=project_body(name="a")).json()["id"]
    second = client.post("/projects", json=project_body(name="b")).json()["id"]
    listed = client.get("/projects").json()["projects"]
    assert [p["id"] for p in listed] == [first, second]
    assert client.get(f"/projects/{second}").json()["name"] == "b"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"labels": ["a"]}, "labels"),
        ({"labels": ["a", "a"]}, "distinct"),
        ({"strategy": {"name": "nope"}}, "known: "),
        ({"strategy": {"name": "margin", "params": {"x": 1}}}, "does not accept"),
        ({"strategy": {"name": "tcm", "params": {"then_params": {"mm": 3}}}}, "'margin' does not accept ['mm']"),
        ({"strategy": {"name": "tcm", "params": {"then": "prefilter", "then_params": {"diversify_params": {"k": 1}}}}},
         "'kcenter_greedy' does not accept ['k']"),
        ({"strategy": {"name": "tcm", "params": {"first": "nope"}}}, "unknown strategy 'nope'"),
        ({"strategy": {"name": "tcm", "params": {"first_params": 3}}}, "first_params must be an object"),
        ({"model": {"name": "os.system"}}, "unknown model"),
        ({"model": {"name": "logistic_regression", "params": {"bogus": 1}}}, "bad parameters"),
        ({"model": {"name": "logistic_regression", "params": {"C": -1.0}}}, "'C' parameter"),
        ({"model": {"name": "sklearn.linear_model.LinearRegression"}}, "not a scikit-learn classifier"),
        ({"batch_size": 0}, "batch_size"),
        ({"budget": "ten"}, "budget"),
        ({"target": {"metric": "accuracy", "value": 2}}, "target.value"),
        ({"retrain_every": True}, "retrain_every"),
        ({"input": "text", "encoder": {"name": "x", "path": "/nonexistent/model"}}, "encoder"),
        ({"encoder": {"name": "hashing"}}, "only text projects"),
        ({"input": "text", "encoder": {"name": "hashing", "params": {"dim": 3}}}, "dim must be"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_configuration_is_422_saying_what(client, change, fragment):
    r = client.post("/projects", json=project_body(**change))
    assert r.status_code == 422
    assert fragment in r.json()["detail"]
    assert client.get("/projects").json()["projects"] == []


def test_unknown_project_is_404(client):
    r = client.get("/projects/99")
    assert r.status_code == 404
    assert r.json() == {"detail": "project 99 not found"}


def test_patch_changes_settings(client):
    pid = client.post("/projects", json=project_body()).json()["id"]
    r = client.patch(f"/projects/{pid}", json={"strategy": {"name": "entropy"}, "batch_size": 5, "budget": 50})
    assert r.status_code == 200
    body = r.json()
    assert (body["strategy"]["name"], body["batch_size"], body["budget"]) == ("entropy", 5, 50)


def test_patch_rejects_unknown_strategy_and_changes_nothing(client):
    pid = client.post("/projects", json=project_body()).json()["id"]
    r = client.patch(f"/projects/{pid}", json={"strategy": {"name": "nope"}, "batch_size": 3})
    assert r.status_code == 422
    assert client.get(f"/projects/{pid}").json()["batch_size"] == 10
