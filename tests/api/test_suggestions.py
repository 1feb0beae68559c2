"""The model's suggestion in /next (a project setting), and export as one JSON array."""

from __future__ import annotations

import json

import numpy as np
from helpers import make_campaign, wait_for

from alloop.models.sklearn import SklearnModel


def label_batch(client, pid, y, n=20):
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": n, "wait": 30}).json()
    labels = [{"item_id": it["id"], "label": str(y[int(it["id"][1:])]), "annotator": "ann"} for it in batch["items"]]
    assert client.post(f"/projects/{pid}/labels", json={"labels": labels}).status_code == 200
    return batch


def test_suggestions_come_from_the_newest_model_once_there_is_one(client, digits):
    X, y = digits
    pid = make_campaign(client, digits, pool=300, evals=50, suggest=True, budget=200)
    assert client.get(f"/projects/{pid}").json()["suggest"] is True
    first = label_batch(client, pid, y)
    assert all("suggestion" not in item for item in first["items"])  # no model yet
    wait_for(client, pid, lambda s: s["model_version"] == 1 and not s["training"])
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 20, "wait": 30}).json()
    suggestions = [item["suggestion"] for item in batch["items"]]
    assert len(suggestions) == 20
    assert all(s["model_version"] == 1 and s["label"] in [str(d) for d in range(10)] for s in suggestions)
    assert all(0.0 < s["confidence"] <= 1.0 for s in suggestions)
    model = SklearnModel.load(client.app.state.store.project_dir(pid) / "models" / "v1")
    probs = model.predict_proba(X[[int(item["id"][1:]) for item in batch["items"]]])
    assert [s["label"] for s in suggestions] == [str(k) for k in probs.argmax(axis=1)]
    assert np.allclose([s["confidence"] for s in suggestions], probs.max(axis=1), atol=2e-3)
    again = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 20, "wait": 0}).json()
    assert [item["suggestion"] for item in again["items"]] == suggestions  # held items keep theirs


def test_suggestions_are_off_by_default_and_a_patch_turns_them_on(client, digits):
    _, y = digits
    pid = make_campaign(client, digits, pool=200, evals=50)
    assert client.get(f"/projects/{pid}").json()["suggest"] is False
    label_batch(client, pid, y)
    wait_for(client, pid, lambda s: s["model_version"] == 1 and not s["training"])
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 5, "wait": 30}).json()
    assert batch["items"] and all("suggestion" not in item for item in batch["items"])
    assert client.patch(f"/projects/{pid}", json={"suggest": True}).json()["suggest"] is True
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 5, "wait": 0}).json()
    assert all(item["suggestion"]["model_version"] == 1 for item in batch["items"])
    bad = client.patch(f"/projects/{pid}", json={"suggest": None})
    assert bad.status_code == 422 and "suggest" in bad.json()["detail"]
    assert client.patch(f"/projects/{pid}", json={"suggest": "yes"}).status_code == 422


def test_export_as_one_json_array_with_a_count(client, digits):
    _, y = digits
    pid = make_campaign(client, digits, pool=100, evals=0)
    label_batch(client, pid, y, n=7)
    r = client.get(f"/projects/{pid}/export", params={"format": "json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    rows = json.loads(r.text)
    assert len(rows) == 7 and r.headers["x-total-count"] == "7"
    lines = client.get(f"/projects/{pid}/export").text.splitlines()
    assert [json.loads(line) for line in lines] == rows
    empty = make_campaign(client, digits, pool=10, evals=0)
    assert json.loads(client.get(f"/projects/{empty}/export", params={"format": "json"}).text) == []
    bad = client.get(f"/projects/{pid}/export", params={"format": "xml"})
    assert bad.status_code == 422 and "jsonl" in bad.text and "json" in bad.text
