"""Review over HTTP: settings and their 422s, suspects after a retrain, /next's review items, status and export."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from helpers import items_body, project_body, wait_for

from alloop.quality import label_errors


@pytest.mark.parametrize(("review", "fragment"), [
    ({"share": 0}, "greater than 0"),
    ({"share": 0.6}, "less than or equal to 0.5"),
    ({"share": "0.1"}, "share"),
    ({"folds": 1}, "greater than or equal to 2"),
    ({"max_labels": 10}, "greater than or equal to 50"),
    ({"every": 0}, "every"),
    ({"shares": 0.1}, "shares"),
    (0.1, "review"),
])
def test_bad_review_settings_are_422(client, review, fragment):
    r = client.post("/projects", json=project_body(review=review))
    assert r.status_code == 422 and set(r.json()) == {"detail"} and fragment in r.json()["detail"], r.text
    assert client.get("/projects").json()["projects"] == []


def test_review_is_off_by_default_and_takes_its_defaults(client):
    project = client.post("/projects", json=project_body()).json()
    assert project["review"] is None and project["annotators"] == []
    assert project["review_queue"]["enabled"] is False and project["review_queue"]["counts_against_budget"] is True
    project = client.post("/projects", json=project_body(review={})).json()
    assert project["review"] == {"share": 0.1, "folds": 5, "max_labels": 5000, "every": None, "min_labels": 100}


def test_a_bad_patch_is_422_and_changes_nothing(client):
    pid = client.post("/projects", json=project_body(review={"share": 0.2})).json()["id"]
    r = client.patch(f"/projects/{pid}", json={"review": {"share": 2}})
    assert r.status_code == 422 and "less than or equal to 0.5" in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["review"]["share"] == 0.2
    assert client.patch(f"/projects/{pid}", json={"review": None}).json()["review"] is None


def test_review_without_cleanlab_is_a_clear_422(client, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(label_errors.importlib.util, "find_spec",
                        lambda name, *a: None if name == "cleanlab" else real(name, *a))
    r = client.post("/projects", json=project_body(review={}))
    assert r.status_code == 422 and "cleanlab" in r.json()["detail"] and "alloop[quality]" in r.json()["detail"]
    pid = client.post("/projects", json=project_body()).json()["id"]
    r = client.patch(f"/projects/{pid}", json={"review": {}})
    assert r.status_code == 422 and "cleanlab" in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["review"] is None


def test_only_takes_review_alone(client):
    pid = client.post("/projects", json=project_body()).json()["id"]
    r = client.post(f"/projects/{pid}/next", json={"annotator": "b", "only": "pool"})
    assert r.status_code == 422 and "'review'" in r.json()["detail"]


def test_a_campaign_finds_flips_serves_them_for_review_and_retrains_on_the_reviews(client, digits):
    X, y = digits
    X = X / 16.0
    labeled, budget = 120, 126
    pid = client.post("/projects", json=project_body(review={"share": 0.3}, batch_size=20, retrain_every=20,
                                                     budget=budget, stabilize=None)).json()["id"]
    client.post(f"/projects/{pid}/items", json=items_body(X, range(300)))
    client.post(f"/projects/{pid}/items", json=items_body(X, range(1500, 1600), y, "eval"))
    rng = np.random.default_rng(0)
    truth, flipped = {}, set()
    while len(truth) < labeled:
        items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 20, "wait": 10}).json()["items"]
        assert all(item.get("reason") is None for item in items)  # a's own labels never come back to a
        labels = []
        for item in items:
            true = str(y[int(item["id"][1:])])
            truth[item["id"]] = true
            wrong = rng.random() < 0.1
            flipped.update([item["id"]] if wrong else [])
            labels.append({"item_id": item["id"], "label": str((int(true) + 1) % 10) if wrong else true,
                           "annotator": "a"})
        client.post(f"/projects/{pid}/labels", json={"labels": labels})
    status = wait_for(client, pid, lambda s: s["review_queue"]["last_check"] is not None
                      and s["review_queue"]["last_check"]["n_labels"] == labeled)
    check = status["review_queue"]["last_check"]
    assert check["method"] == "cleanlab" and check["suspects"] > 0 and check["error"] is None
    version = status["model_version"]
    answer = client.post(f"/projects/{pid}/next", json={"annotator": "b", "n": 20}).json()
    review = [item for item in answer["items"] if item.get("reason") == "review"]
    assert len(review) == 6 and all(item["strategy"] == "review" for item in review)  # round(0.3 x 20), the budget
    # b disagrees with every label it reviews: each one is replaced
    export = [json.loads(line) for line in client.get(f"/projects/{pid}/export").text.splitlines()]
    current = {row["item_id"]: row["label"] for row in export}
    sent = [{"item_id": item["id"], "label": str((int(current[item["id"]]) + 5) % 10), "annotator": "b"}
            for item in review]
    result = client.post(f"/projects/{pid}/labels", json={"labels": sent}).json()
    assert result["reviews"] == {"confirmed": 0, "replaced": 6} and result["accepted"] == 6
    status = wait_for(client, pid, lambda s: s["model_version"] > version)  # the done campaign retrains on them
    assert (status["state"], status["stop_reason"], status["spent"]) == ("done", "budget_exhausted", budget)
    queue = status["review_queue"]
    assert (queue["reviews"], queue["replaced"], queue["spent"]) == (6, 6, 6)
    people = {row["annotator"]: row for row in status["annotators"]}
    assert people["a"]["answers"] == labeled and people["a"]["reviewed"] == 6
    assert people["a"]["review_agreement"] == 0.0 and people["a"]["agreement"] == round((labeled - 6) / labeled, 4)
    assert people["b"]["reviews_given"] == 6
    export = [json.loads(line) for line in client.get(f"/projects/{pid}/export").text.splitlines()]
    replaced = [row for row in export if row["reviews"]]
    assert len(replaced) == 6 and all(row["annotator"] == "b" and row["reviews"][0]["previous"]["annotator"] == "a"
                                      for row in replaced)
    csv_text = client.get(f"/projects/{pid}/export?format=csv").text
    assert csv_text.splitlines()[0].endswith(",votes,dup_group,propagated_from,reviews")
