"""Budgets counted in labeling cost (``budget_unit: "cost"``) over HTTP."""

from __future__ import annotations

import json

import pytest

COSTS = {"c0": 4.0, "c1": 1.5, "c2": 1.0, "c3": 2.5, "c4": None, "c5": 3.0, "c6": 0.5, "c7": 6.0}


@pytest.fixture
def make(client):
    def create(budget, labels_per_item=1, unit="cost"):
        body = {"name": "cost", "labels": ["a", "b"], "budget": budget, "budget_unit": unit, "retrain_every": 1000,
                "cold_start": "random", "labels_per_item": labels_per_item, "stabilize": None,
                "dedup": "off"}
        pid = client.post("/projects", json=body).json()["id"]
        items = [{"id": key, "features": [float(k), 1.0], **({"cost": cost} if cost else {})}
                 for k, (key, cost) in enumerate(COSTS.items())]
        assert client.post(f"/projects/{pid}/items", json={"split": "pool", "items": items}).status_code == 200
        return pid

    return create


def cost_of(items):
    return sum(COSTS[item["id"]] or 1.0 for item in items)


def label(client, pid, ids, annotator="a"):
    body = {"labels": [{"item_id": i, "label": "a", "annotator": annotator} for i in ids]}
    return client.post(f"/projects/{pid}/labels", json=body).json()


def test_leases_fit_in_the_budget_and_the_campaign_stops_when_nothing_fits(client, make):
    pid = make(budget=7)
    got = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 8}).json()["items"]
    assert got and cost_of(got) <= 7
    more = client.post(f"/projects/{pid}/next", json={"annotator": "b", "n": 8}).json()["items"]
    assert cost_of(got) + cost_of(more) <= 7  # what is held counts against the budget too
    assert not {i["id"] for i in got} & {i["id"] for i in more}
    label(client, pid, [i["id"] for i in got])
    label(client, pid, [i["id"] for i in more], annotator="b")
    status = client.get(f"/projects/{pid}").json()
    assert status["budget_unit"] == "cost"
    assert status["spent"] == pytest.approx(cost_of(got + more))
    assert status["budget_left"] == pytest.approx(7 - cost_of(got + more))
    while status["state"] == "running":  # keep labeling what /next offers until nothing fits
        offered = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 8}).json()
        if not offered["items"]:
            break
        label(client, pid, [i["id"] for i in offered["items"]])
        status = client.get(f"/projects/{pid}").json()
    assert (status["state"], status["stop_reason"]) == ("done", "budget_exhausted")
    assert status["spent"] <= 7
    labeled = {json.loads(line)["item_id"] for line in client.get(f"/projects/{pid}/export").text.splitlines()}
    assert all((COSTS[k] or 1.0) > 7 - status["spent"] for k in COSTS if k not in labeled)  # nothing left fits


def test_exhausted_means_no_unlabeled_item_fits(client, make):
    pid = make(budget=5)
    assert label(client, pid, ["c0", "c6"])["accepted"] == 2  # 4.5 spent, 0.5 left: only c6 cost that little
    status = client.get(f"/projects/{pid}").json()
    assert (status["state"], status["stop_reason"], status["spent"]) == ("done", "budget_exhausted", 4.5)
    assert client.post(f"/projects/{pid}/next", json={"annotator": "a"}).json()["done"] is True


def test_a_label_that_would_overrun_the_budget_is_rejected(client, make):
    pid = make(budget=5)
    answer = label(client, pid, ["c0", "c7", "c2"])  # 4, then 6 does not fit, then 1 fits exactly
    assert answer == {"accepted": 2, "duplicates": 0, "rejected": [{"item_id": "c7", "reason": "budget_exhausted"}]}
    assert client.get(f"/projects/{pid}").json()["spent"] == 5


def test_an_item_without_a_cost_counts_one(client, make):
    pid = make(budget=100)
    label(client, pid, ["c4", "c1"])
    assert client.get(f"/projects/{pid}").json()["spent"] == 2.5


def test_an_expensive_item_is_skipped_for_cheaper_ones_after_it(client, make):
    pid = make(budget=2)
    got = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 8}).json()["items"]
    assert got and all((COSTS[i["id"]] or 1.0) <= 2 for i in got) and cost_of(got) <= 2


def test_raising_the_budget_resumes_the_campaign(client, make):
    pid = make(budget=4)
    label(client, pid, ["c0"])
    assert client.get(f"/projects/{pid}").json()["stop_reason"] == "budget_exhausted"
    patched = client.patch(f"/projects/{pid}", json={"budget": 10})
    assert patched.status_code == 200
    status = client.get(f"/projects/{pid}").json()
    assert (status["state"], status["budget_left"]) == ("running", 6)
    assert client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 2}).json()["items"]


def test_switching_the_unit_recounts_what_is_spent(client, make):
    pid = make(budget=3, unit="items")
    label(client, pid, ["c0", "c1"])  # 2 items, 5.5 in cost
    assert client.get(f"/projects/{pid}").json()["spent"] == 2
    client.patch(f"/projects/{pid}", json={"budget_unit": "cost"})
    status = client.get(f"/projects/{pid}").json()
    assert (status["spent"], status["state"], status["stop_reason"]) == (5.5, "done", "budget_exhausted")


def test_with_overlap_a_started_item_holds_its_cost(client, make):
    pid = make(budget=5, labels_per_item=2)
    assert label(client, pid, ["c0"], annotator="x")["accepted"] == 1  # started: holds 4
    answer = label(client, pid, ["c3"], annotator="x")  # 2.5 more would not fit beside it
    assert answer["rejected"] == [{"item_id": "c3", "reason": "budget_exhausted"}]
    assert label(client, pid, ["c0"], annotator="y")["accepted"] == 1  # a started item always takes its vote
    assert client.get(f"/projects/{pid}").json()["spent"] == 4


@pytest.mark.parametrize("unit", ["dollars", 1, None])
def test_an_unknown_unit_is_422(client, unit):
    r = client.post("/projects", json={"name": "x", "labels": ["a", "b"], "budget": 5, "budget_unit": unit})
    assert r.status_code == 422 and "budget_unit" in r.json()["detail"]
