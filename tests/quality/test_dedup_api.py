"""Duplicate and leakage settings over HTTP: 422s that list the accepted values, status, export, /leakage."""

from __future__ import annotations

import csv
import io

import pytest

BAD = [
    ({"dedup": "drop"}, "dedup", "'skip', 'propagate' or 'off'"),
    ({"dedup": None}, "dedup", ""),
    ({"dedup": 1}, "dedup", ""),
    ({"dedup_threshold": 0.0}, "dedup_threshold", "greater than 0"),
    ({"dedup_threshold": 1.5}, "dedup_threshold", "less than or equal to 1"),
    ({"dedup_threshold": "high"}, "dedup_threshold", ""),
    ({"leakage": "remove"}, "leakage", "'report' or 'drop'"),
    ({"leakage": None}, "leakage", ""),
]


def create(client, **fields):
    r = client.post("/projects", json={"name": "q", "labels": ["a", "b"], "max_stale_labels": None, **fields})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("body, field, accepted", BAD)
def test_bad_settings_at_creation_are_422_with_the_accepted_values(client, body, field, accepted):
    r = client.post("/projects", json={"name": "q", "labels": ["a", "b"], **body})
    assert r.status_code == 422
    assert field in r.json()["detail"] and accepted in r.json()["detail"]
    assert client.get("/projects").json()["projects"] == []


@pytest.mark.parametrize("body, field, accepted", BAD)
def test_bad_settings_in_a_patch_are_422_and_change_nothing(client, body, field, accepted):
    project = create(client)
    r = client.patch(f"/projects/{project['id']}", json=body)
    assert r.status_code == 422
    assert field in r.json()["detail"] and accepted in r.json()["detail"]
    after = client.get(f"/projects/{project['id']}").json()
    assert (after["dedup"], after["dedup_threshold"], after["leakage"]) == ("skip", None, "report")


def test_defaults_and_changes_show_in_the_project(client):
    project = create(client)  # vectors: exact duplicates only unless a threshold is set
    assert (project["dedup"], project["dedup_threshold"], project["leakage"]) == ("skip", None, "report")
    text = create(client, input="text", encoder={"name": "hashing"})  # an encoder's embeddings: 0.95
    assert text["dedup_threshold"] == 0.95
    r = client.patch(f"/projects/{text['id']}", json={"dedup_threshold": None})
    assert r.status_code == 200 and r.json()["dedup_threshold"] is None
    r = client.patch(f"/projects/{project['id']}", json={"dedup": "propagate", "dedup_threshold": 0.9,
                                                         "leakage": "drop"})
    assert r.status_code == 200
    assert (r.json()["dedup"], r.json()["dedup_threshold"], r.json()["leakage"]) == ("propagate", 0.9, "drop")
    assert r.json()["duplicates"]["setting"] == "propagate" and r.json()["leakage_report"]["setting"] == "drop"


def test_status_export_and_leakage_show_groups_and_counts(client):
    pid = create(client, dedup="propagate", batch_size=10, dedup_threshold=0.95)["id"]  # vectors: near duplicates only with a threshold set
    v = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0]}
    pool = [{"id": "a1", "features": v["a"]}, {"id": "a2", "features": v["a"]},
            {"id": "a3", "features": [1.0, 0.02, 0.0]}, {"id": "b1", "features": v["b"]},
            {"id": "c1", "features": v["c"]}]
    assert client.post(f"/projects/{pid}/items", json={"items": pool}).status_code == 200
    evals = [{"id": "e1", "features": v["b"], "label": "a"}, {"id": "e2", "features": [0.0, 0.01, 1.0], "label": "b"},
             {"id": "e3", "features": [1.0, 1.0, 1.0], "label": "a"}]
    assert client.post(f"/projects/{pid}/items", json={"split": "eval", "items": evals}).status_code == 200
    status = client.get(f"/projects/{pid}").json()
    dup = status["duplicates"]
    assert (dup["groups"], dup["grouped_items"], dup["skipped"], dup["propagated"]) == (1, 3, 0, 0)
    assert dup["largest"][0]["size"] == 3 and dup["largest"][0]["first"] == "a1"
    leak = status["leakage_report"]
    assert (leak["eval_items"], leak["exact_eval_items"], leak["pool_items"], leak["dropped"]) == (2, 1, 2, 0)
    assert {(e["eval_id"], e["pool_id"], e["exact"]) for e in leak["examples"]} == {("e1", "b1", True),
                                                                                    ("e2", "c1", False)}
    body = client.get(f"/projects/{pid}/leakage", params={"limit": 1}).json()
    assert body["eval_items"] == 2 and len(body["pairs"]) == 1 and body["pairs"][0]["similarity"] == 1.0
    assert client.get(f"/projects/{pid}/leakage", params={"limit": 0}).status_code == 422

    r = client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "a1", "label": "b", "annotator": "p"}]})
    assert r.json()["accepted"] == 1 and r.json()["propagated"] == 1
    dup = client.get(f"/projects/{pid}").json()["duplicates"]
    assert (dup["skipped"], dup["propagated"]) == (1, 1)  # a3 (near) skipped, a2 (exact) labeled by copy
    assert client.get(f"/projects/{pid}").json()["spent"] == 1
    rows = {r["item_id"]: r for r in map(_json, client.get(f"/projects/{pid}/export").text.splitlines())}
    assert rows["a2"]["propagated_from"] == "a1" and rows["a2"]["dup_group"] == rows["a1"]["dup_group"]
    table = list(csv.DictReader(io.StringIO(client.get(f"/projects/{pid}/export", params={"format": "csv"}).text)))
    assert {r["item_id"]: r["propagated_from"] for r in table} == {"a1": "", "a2": "a1"}


def _json(line):
    import json

    return json.loads(line)
