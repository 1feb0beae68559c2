"""Text campaigns: text items are embedded in the background, then served, trained and ranked."""

from __future__ import annotations

import pytest
from helpers import wait_for

SPAM = ["win a free prize now", "free entry claim your cash", "urgent call now to claim", "cheap loans text now"]
HAM = ["see you at lunch", "are we still meeting today", "call me when you get home", "thanks for dinner"]


def texts(n: int) -> list[tuple[str, str]]:
    rows = []
    for i in range(n):
        label, pool = ("spam", SPAM) if i % 3 == 0 else ("ham", HAM)
        rows.append((label, f"{pool[i % len(pool)]} {i}"))
    return rows


@pytest.fixture
def text_project(client):
    body = {"name": "sms", "labels": ["ham", "spam"], "input": "text", "batch_size": 5, "retrain_every": 10,
            "budget": 40, "encoder": {"name": "hashing", "params": {"dim": 256}}, "stabilize": None}
    r = client.post("/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_text_items_are_embedded_then_served_with_their_text(client, text_project):
    pid = text_project
    rows = texts(60)
    pool = [{"id": f"t{i}", "text": t} for i, (_, t) in enumerate(rows[:50])]
    evals = [{"id": f"e{i}", "text": t, "label": lab} for i, (lab, t) in enumerate(rows[50:])]
    assert client.post(f"/projects/{pid}/items", json={"items": pool}).json()["added"] == 50
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": evals})
    status = wait_for(client, pid, lambda s: s["to_embed"] == 0)
    assert (status["embedded"], status["n_features"]) == (60, 256)
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "a"}).json()
    assert len(batch["items"]) == 5 and all("text" in it and "features" not in it for it in batch["items"])
    truth = {f"t{i}": lab for i, (lab, _) in enumerate(rows)}
    for _ in range(3):
        items = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5}).json()["items"]
        client.post(f"/projects/{pid}/labels", json={"labels": [
            {"item_id": it["id"], "label": truth[it["id"]], "annotator": "a"} for it in items]})
    status = wait_for(client, pid, lambda s: s["model_version"] is not None)
    assert status["metrics"]["eval_size"] == 10


def test_text_items_need_text(client, text_project):
    r = client.post(f"/projects/{text_project}/items", json={"items": [{"id": 1, "features": [1.0]}]})
    assert r.status_code == 422 and "'text' is required" in r.json()["detail"]
