"""/next and /labels over HTTP: leases, validation, duplicates, budget, done."""

from __future__ import annotations

import pytest
from helpers import make_campaign, wait_for_ranking


@pytest.fixture
def pid(client, digits):
    return make_campaign(client, digits, pool=60, evals=0, budget=30, retrain_every=1000)


def label_all(client, pid, items, annotator="a", label="1"):
    return client.post(
        f"/projects/{pid}/labels",
        json={"labels": [{"item_id": it["id"], "label": label, "annotator": annotator} for it in items]},
    ).json()


def test_next_leases_distinct_items_with_features(client, pid):
    a = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5}).json()
    b = client.post(f"/projects/{pid}/next", json={"annotator": "b", "n": 5}).json()
    assert len(a["items"]) == len(b["items"]) == 5
    assert not {i["id"] for i in a["items"]} & {i["id"] for i in b["items"]}
    assert len(a["items"][0]["features"]) == 64
    assert a["lease_expires_at"].endswith("Z") and a["done"] is False and a["reason"] is None
    assert client.get(f"/projects/{pid}").json()["leased"] == 10


def test_a_repoll_returns_what_the_annotator_holds(client, pid):
    first = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5}).json()
    again = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5}).json()
    assert [i["id"] for i in again["items"]] == [i["id"] for i in first["items"]]


def test_n_defaults_to_the_batch_size(client, pid):
    assert len(client.post(f"/projects/{pid}/next", json={"annotator": "a"}).json()["items"]) == 10


@pytest.mark.parametrize("n", [0, -1, 1001, 10**9])
def test_n_out_of_range_is_422(client, pid, n):
    r = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": n})
    assert r.status_code == 422 and "n must be between 1 and 1000" in r.json()["detail"]


def test_labels_are_counted_once(client, pid):
    items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 3}).json()["items"]
    assert label_all(client, pid, items) == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert label_all(client, pid, items) == {"accepted": 0, "duplicates": 3, "rejected": []}
    status = client.get(f"/projects/{pid}").json()
    assert (status["labeled"], status["leased"], status["unlabeled"]) == (3, 0, 57)


def test_a_bad_label_rejects_the_whole_batch(client, pid):
    items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 2}).json()["items"]
    body = {"labels": [{"item_id": items[0]["id"], "label": "1"}, {"item_id": items[1]["id"], "label": "cat"}]}
    r = client.post(f"/projects/{pid}/labels", json=body)
    assert r.status_code == 422 and "'cat' is not one of" in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["labeled"] == 0


@pytest.mark.parametrize(
    ("entry", "status", "fragment"),
    [
        ({"item_id": "nope", "label": "1"}, 404, "not found"),
        ({"item_id": False, "label": "1"}, 422, "labels.0.item_id"),
        ({"item_id": "d0", "label": 1}, 422, "labels.0.label"),
        ({"label": "1"}, 422, "item_id"),
    ],
)
def test_bad_label_entries(client, pid, entry, status, fragment):
    r = client.post(f"/projects/{pid}/labels", json={"labels": [entry]})
    assert r.status_code == status and fragment in r.json()["detail"]


def test_eval_items_cannot_be_labeled(client, digits):
    pid = make_campaign(client, digits, pool=20, evals=5)
    r = client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "d20", "label": "1"}]})
    assert r.status_code == 422 and "eval item" in r.json()["detail"]


def test_budget_caps_leases_and_labels_then_done(client, pid):
    served = []
    for annotator in "abcd":
        served += client.post(f"/projects/{pid}/next", json={"annotator": annotator, "n": 10}).json()["items"]
    assert len(served) == 30  # budget 30: the fourth annotator gets nothing
    assert label_all(client, pid, served)["accepted"] == 30
    status = client.get(f"/projects/{pid}").json()
    assert (status["state"], status["stop_reason"], status["labeled"]) == ("done", "budget_exhausted", 30)
    answer = client.post(f"/projects/{pid}/next", json={"annotator": "a"}).json()
    assert answer == {"items": [], "lease_expires_at": None, "done": True, "reason": "budget_exhausted"}
    # An item nobody was served (which ones were depends on whether the cold-start ranking had landed).
    unserved = next(f"d{k}" for k in range(59, -1, -1) if f"d{k}" not in {item["id"] for item in served})
    extra = client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": unserved, "label": "2"}]}).json()
    assert extra == {"accepted": 0, "duplicates": 0, "rejected": [{"item_id": unserved, "reason": "budget_exhausted"}]}


def test_labelling_the_whole_pool_stops_with_pool_exhausted(client, digits):
    pid = make_campaign(client, digits, pool=12, evals=0, budget=None, retrain_every=1000)
    items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 20}).json()["items"]
    assert len(items) == 12
    label_all(client, pid, items)
    assert client.get(f"/projects/{pid}").json()["stop_reason"] == "pool_exhausted"


def test_export_has_every_label_with_provenance(client, pid):
    wait_for_ranking(client, pid)  # so the served items carry the cold-start rule as their strategy
    items = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 4}).json()["items"]
    label_all(client, pid, items, annotator="ann", label="7")
    lines = client.get(f"/projects/{pid}/export").text.splitlines()
    assert len(lines) == 4
    import json

    row = json.loads(lines[0])
    assert {"item_id", "label", "annotator", "labeled_at", "model_version", "score", "strategy", "batch_id"} <= set(row)
    assert (row["label"], row["annotator"]) == ("7", "ann")
    assert row["strategy"].startswith("cold_start")
    csv_text = client.get(f"/projects/{pid}/export?format=csv").text.splitlines()
    assert csv_text[0].startswith("item_id,label,annotator") and len(csv_text) == 5
    assert client.get(f"/projects/{pid}/export?format=xml").status_code == 422


def test_a_replayed_submission_gets_the_first_answer(client, pid):
    items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 3}).json()["items"]
    body = {"labels": [{"item_id": it["id"], "label": "1", "annotator": "a"} for it in items]}
    first = client.post(f"/projects/{pid}/labels", json=body, headers={"Idempotency-Key": "k1"}).json()
    again = client.post(f"/projects/{pid}/labels", json=body, headers={"Idempotency-Key": "k1"}).json()
    assert first == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert again == {**first, "replayed": True}
    via_field = client.post(f"/projects/{pid}/labels", json={**body, "submission_id": "k1"}).json()
    assert via_field["replayed"] is True and client.get(f"/projects/{pid}").json()["labeled"] == 3


def test_a_reused_submission_id_with_other_labels_is_422(client, pid):
    items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 2}).json()["items"]
    one = {"labels": [{"item_id": items[0]["id"], "label": "1"}], "submission_id": "s"}
    two = {"labels": [{"item_id": items[1]["id"], "label": "1"}], "submission_id": "s"}
    assert client.post(f"/projects/{pid}/labels", json=one).status_code == 200
    r = client.post(f"/projects/{pid}/labels", json=two)
    assert r.status_code == 422 and "already used for different labels" in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["labeled"] == 1
    mixed = client.post(f"/projects/{pid}/labels", json=one, headers={"Idempotency-Key": "other"})
    assert mixed.status_code == 422 and "disagree" in mixed.json()["detail"]
