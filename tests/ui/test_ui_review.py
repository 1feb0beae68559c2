"""The dashboard's label-review card and annotator table, in headless Chromium against a real server."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import make_blobs

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

LABELS = ["cat", "dog", "bird"]


def test_dashboard_shows_the_review_queue_and_each_annotators_agreement(page: Page, server: ServerProcess) -> None:
    X, y = make_blobs(n_samples=100, centers=3, n_features=4, random_state=1, cluster_std=1.0)
    gold = {f"p{i}": LABELS[y[i]] for i in range(80)}
    with Client(server.url) as client:
        pid = client.create_project(name="pets", labels=LABELS, batch_size=10, retrain_every=10, budget=60,
                                    stabilize=None, review={"share": 0.5, "min_labels": 30})["id"]
        client.add_items(pid, [{"id": f"p{i}", "features": X[i].tolist()} for i in range(80)])
        client.add_items(pid, [{"id": f"e{i}", "features": X[i].tolist(), "label": LABELS[y[i]]}
                               for i in range(80, 100)], "eval")
        wrong = 0
        while client.project(pid)["labeled"] < 40:
            batch = client.next(pid, "alice", n=10)["items"]
            labels = []
            for item in batch:  # every fifth answer is wrong
                wrong += 1
                label = gold[item["id"]] if wrong % 5 else LABELS[(LABELS.index(gold[item["id"]]) + 1) % 3]
                labels.append({"item_id": item["id"], "label": label, "annotator": "alice"})
            client.label(pid, labels)
        deadline = time.monotonic() + 30
        while not client.project(pid)["review_queue"]["suspects"] and time.monotonic() < deadline:
            time.sleep(0.1)
        review = client.request("POST", f"/projects/{pid}/next",
                                json={"annotator": "bob", "n": 2, "only": "review"}).json()["items"]
        assert len(review) == 2, json.dumps(client.project(pid))
        assert all(item["reason"] == "review" for item in review)
        client.label(pid, [{"item_id": item["id"], "label": gold[item["id"]], "annotator": "bob"} for item in review])
        status = client.project(pid)
    queue = status["review_queue"]
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#review-card")).to_be_visible()
    expect(page.locator("#review tr[data-key=reviews] td").nth(1)).to_have_text("2")
    expect(page.locator("#review tr[data-key=replaced] td").nth(1)).to_contain_text(str(queue["replaced"]))
    expect(page.locator("#review tr[data-key='last check'] td").nth(1)).to_contain_text("cleanlab")
    expect(page.locator("#annotators-card")).to_be_visible()
    expect(page.locator("#annotators tr[data-annotator=alice] td").nth(1)).to_have_text("40")
    expect(page.locator("#annotators tr[data-annotator=bob] td").nth(5)).to_have_text("2")
