"""Overlap over HTTP: labels_per_item, votes in /labels, status and export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import make_campaign, project_body


@pytest.fixture
def pid(client, digits):
    return make_campaign(client, digits, pool=20, evals=0, budget=4, retrain_every=1000, labels_per_item=3,
                         stabilize=None)


def poll(client, pid, who, n=2):
    """The ids served, sorted (a cold-start ranking may land between two polls and reorder them)."""
    answer = client.post(f"/projects/{pid}/next", json={"annotator": who, "n": n}).json()
    return sorted(item["id"] for item in answer["items"])


def send(client, pid, who, labels):
    body = {"labels": [{"item_id": item, "label": label, "annotator": who} for item, label in labels]}
    return client.post(f"/projects/{pid}/labels", json=body).json()


def test_labels_per_item_defaults_to_one(client):
    project = client.post("/projects", json=project_body()).json()
    assert project["labels_per_item"] == 1 and project["votes"] == 0 and project["mean_agreement"] is None


@pytest.mark.parametrize("value", [0, 26, -1, "3", True, 2.0, None])
def test_labels_per_item_out_of_range_is_422(client, value):
    r = client.post("/projects", json=project_body(labels_per_item=value))
    assert r.status_code == 422 and set(r.json()) == {"detail"} and "labels_per_item" in r.json()["detail"]


@pytest.mark.parametrize(("value", "fragment"), [(0, "labels_per_item"), (26, "labels_per_item"), (None, "cannot be null")])
def test_patching_labels_per_item_out_of_range_is_422(client, pid, value, fragment):
    r = client.patch(f"/projects/{pid}", json={"labels_per_item": value})
    assert r.status_code == 422 and fragment in r.json()["detail"]
    assert client.get(f"/projects/{pid}").json()["labels_per_item"] == 3


def test_three_annotators_vote_and_the_majority_is_exported(client, pid):
    served = poll(client, pid, "a")
    assert poll(client, pid, "b") == served and poll(client, pid, "c") == served
    assert len(set(poll(client, pid, "d")) & set(served)) == 0
    assert send(client, pid, "a", [(served[0], "1"), (served[1], "2")]) == {
        "accepted": 2, "duplicates": 0, "rejected": [], "decided": 0}
    send(client, pid, "b", [(served[0], "1"), (served[1], "3")])
    status = client.get(f"/projects/{pid}").json()
    assert (status["labeled"], status["votes"], status["partial_items"]) == (0, 4, 2)
    assert send(client, pid, "c", [(served[0], "1"), (served[1], "3")])["decided"] == 2
    status = client.get(f"/projects/{pid}").json()
    assert (status["labels_per_item"], status["labeled"], status["votes"], status["partial_items"]) == (3, 2, 6, 0)
    assert status["mean_agreement"] == pytest.approx((1 + 2 / 3) / 2)
    assert status["annotator_agreement"]["a"] == {"votes": 2, "agreement": 0.5}
    assert status["budget_left"] == 2 and status["leased"] == 2 and status["leases"] == 2  # d's two items

    rows = [json.loads(line) for line in client.get(f"/projects/{pid}/export").text.splitlines()]
    by_item = {row["item_id"]: row for row in rows}
    assert (by_item[served[1]]["label"], by_item[served[1]]["annotator"]) == ("3", "majority")
    assert by_item[served[1]]["agreement"] == pytest.approx(2 / 3)
    votes = by_item[served[1]]["votes"]
    assert [(v["annotator"], v["label"]) for v in votes] == [("a", "2"), ("b", "3"), ("c", "3")]
    assert all(v["labeled_at"].endswith("Z") for v in votes)

    table = list(csv.DictReader(io.StringIO(client.get(f"/projects/{pid}/export?format=csv").text)))
    assert {"agreement", "votes"} <= set(table[0])
    assert json.loads(next(r for r in table if r["item_id"] == served[1])["votes"]) == votes


def test_the_budget_counts_items_and_the_campaign_stops(client, pid):
    items = poll(client, pid, "a", n=10)
    assert len(items) == 4  # budget 4: four items may be started
    for who in ("a", "b", "c"):
        if who != "a":
            assert poll(client, pid, who, n=10) == items
        send(client, pid, who, [(item, "5") for item in items])
    status = client.get(f"/projects/{pid}").json()
    assert (status["state"], status["stop_reason"], status["labeled"], status["votes"]) == (
        "done", "budget_exhausted", 4, 12)
    assert client.post(f"/projects/{pid}/next", json={"annotator": "e"}).json()["done"] is True


def test_a_retried_submission_is_replayed(client, pid):
    item = poll(client, pid, "a", n=1)[0]
    body = {"labels": [{"item_id": item, "label": "1", "annotator": "a"}]}
    first = client.post(f"/projects/{pid}/labels", json=body, headers={"Idempotency-Key": "k"}).json()
    again = client.post(f"/projects/{pid}/labels", json=body, headers={"Idempotency-Key": "k"}).json()
    assert again == {**first, "replayed": True}
    assert client.get(f"/projects/{pid}").json()["votes"] == 1


def test_lowering_labels_per_item_decides_items_with_enough_votes(client, pid):
    items = poll(client, pid, "a")
    send(client, pid, "a", [(items[0], "1"), (items[1], "2")])
    send(client, pid, "b", [(items[0], "4")])
    r = client.patch(f"/projects/{pid}", json={"labels_per_item": 2})
    assert r.status_code == 200 and r.json()["labels_per_item"] == 2
    status = client.get(f"/projects/{pid}").json()
    assert (status["labeled"], status["partial_items"]) == (1, 1)
    r = client.patch(f"/projects/{pid}", json={"labels_per_item": 1})
    assert client.get(f"/projects/{pid}").json()["labeled"] == 2
