"""Item import: JSON, JSON Lines, CSV, multipart; validation leaves nothing half-written."""

from __future__ import annotations

import json

import pytest
from helpers import items_body, project_body


@pytest.fixture
def pid(client):
    return client.post("/projects", json=project_body(labels=["a", "b"])).json()["id"]


def test_json_import_then_skips_known_ids(client, pid):
    body = {"items": [{"id": 1, "features": [0, 1.5]}, {"id": "x", "features": [2, 3]}]}
    assert client.post(f"/projects/{pid}/items", json=body).json() == {"added": 2, "skipped": 0}
    body["items"].append({"id": "y", "features": [4, 5]})
    assert client.post(f"/projects/{pid}/items", json=body).json() == {"added": 1, "skipped": 2}
    status = client.get(f"/projects/{pid}").json()
    assert (status["unlabeled"], status["n_features"]) == (3, 2)


def test_jsonl_body_and_split_from_query(client, pid):
    lines = "\n".join(json.dumps({"id": f"e{i}", "features": [i, i], "label": "a"}) for i in range(3))
    r = client.post(f"/projects/{pid}/items?split=eval", content=lines,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.json() == {"added": 3, "skipped": 0}
    assert client.get(f"/projects/{pid}").json()["eval_size"] == 3


def test_csv_with_feature_columns(client, pid):
    csv_text = "id,f0,f1,meta\n1,0.5,1.0,\"{\"\"k\"\": 1}\"\n2,2,3,\n"
    r = client.post(f"/projects/{pid}/items", content=csv_text, headers={"Content-Type": "text/csv"})
    assert r.json() == {"added": 2, "skipped": 0}


def test_costs_from_json_and_from_a_csv_column_are_stored(client, pid):
    body = {"items": [{"id": "j", "features": [0, 1], "cost": 2.5}, {"id": "k", "features": [1, 0]}]}
    assert client.post(f"/projects/{pid}/items", json=body).json() == {"added": 2, "skipped": 0}
    csv_text = "id,f0,f1,cost\nc1,0.5,1.0,12\nc2,2,3,\n"
    assert client.post(f"/projects/{pid}/items", content=csv_text,
                       headers={"Content-Type": "text/csv"}).json() == {"added": 2, "skipped": 0}
    with client.app.state.store.read() as conn:
        stored = dict(conn.execute("SELECT ext_id, cost FROM items WHERE project_id = ?", (pid,)).fetchall())
    assert stored == {"j": 2.5, "k": None, "c1": 12.0, "c2": None}  # cost is not taken as a feature column
    bad = client.post(f"/projects/{pid}/items", content="id,f0,f1,cost\nz,1,1,free\n",
                      headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422 and "cost" in bad.json()["detail"]


def test_multipart_csv_file_with_features_column(client, pid):
    csv_text = "id,features,label\n1,0.5 1.0,a\n2,\"[2, 3]\",b\n"
    r = client.post(f"/projects/{pid}/items", files={"file": ("eval.csv", csv_text, "text/csv")},
                    data={"split": "eval"})
    assert r.json() == {"added": 2, "skipped": 0}


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([{"id": 1, "features": [0, 1]}, {"id": 2, "features": [0]}], "length 1, expected 2"),
        ([{"id": 1}], "'features' is required"),
        ([{"id": 1, "features": [0, 1]}, {"id": 1, "features": [0, 1]}], "appears 2 times"),
        ([{"id": 1, "features": [0, 1], "label": "a"}], "imported unlabeled"),
        ([{"id": False, "features": [0, 1]}], "items.0.id"),
        ([{"id": 1, "features": ["x", 1]}], "items.0.features.0"),
        ([{"id": "", "features": [0, 1]}], "non-empty"),
        ([{"id": 1, "features": [0, 1], "cost": 0}], "cost must be a finite number > 0"),
        ([{"id": 1, "features": [0, 1], "cost": -2.5}], "cost must be"),
        ([{"id": 1, "features": [0, 1], "cost": "cheap"}], "items.0.cost"),
    ],
)
def test_bad_items_are_422_and_nothing_is_written(client, pid, items, fragment):
    r = client.post(f"/projects/{pid}/items", json={"items": items})
    assert r.status_code == 422
    assert fragment in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["unlabeled"] == 0


def test_eval_items_need_a_label_from_the_set(client, pid):
    r = client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [{"id": 1, "features": [0, 1]}]})
    assert r.status_code == 422 and "gold label" in r.json()["detail"]
    r = client.post(f"/projects/{pid}/items",
                    json={"split": "eval", "items": [{"id": 1, "features": [0, 1], "label": "zzz"}]})
    assert r.status_code == 422 and "'zzz' is not one of" in r.json()["detail"]


def test_feature_length_is_fixed_by_the_first_import(client, pid, digits):
    X, _ = digits
    assert client.post(f"/projects/{pid}/items", json=items_body(X, range(3))).status_code == 200
    r = client.post(f"/projects/{pid}/items", json={"items": [{"id": "short", "features": [1, 2]}]})
    assert r.status_code == 422 and "expected 64" in r.json()["detail"]


def test_malformed_bodies(client, pid):
    r = client.post(f"/projects/{pid}/items", content="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post(f"/projects/{pid}/items", content="id,f0\n1,abc\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and "not a number" in r.json()["detail"]
    r = client.post(f"/projects/{pid}/items", content="x", headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and "unsupported content type" in r.json()["detail"]


def test_unknown_project_is_404(client):
    r = client.post("/projects/7/items", json={"items": [{"id": 1, "features": [1]}]})
    assert r.status_code == 404
