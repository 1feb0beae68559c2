"""Prometheus metrics: request latency of /next and /labels, queue depth, labels, training rounds."""

from __future__ import annotations

from helpers import make_campaign, wait_for
from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[str, dict[tuple, float]]:
    r = client.get("/metrics/prometheus")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_requests_queue_labels_and_rounds_are_exported(client, digits):
    X, y = digits
    pid = make_campaign(client, digits, pool=200, evals=50, retrain_every=20, batch_size=10)
    wait_for(client, pid, lambda s: s["ranking"] is not None)
    before = scrape(client)
    project = (("project", str(pid)),)
    assert before["alloop_labels_total"][project] == 0
    assert before["alloop_pool_unlabeled"][project] == 200
    depth = before["alloop_queue_depth"][project]
    assert depth > 0

    for _ in range(2):
        batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 10, "wait": 0}).json()
        labels = [{"item_id": it["id"], "label": str(y[int(it["id"][1:])]), "annotator": "ann"} for it in batch["items"]]
        assert client.post(f"/projects/{pid}/labels", json={"labels": labels}).status_code == 200
    client.post(f"/projects/{pid}/labels", json={"labels": [{"item_id": "nope", "label": "1"}]})  # a 422
    wait_for(client, pid, lambda s: s["model_version"] == 1 and not s["training"])

    after = scrape(client)
    assert after["alloop_labels_total"][project] == 20
    assert after["alloop_labels_per_minute"][project] == 20
    assert after["alloop_pool_unlabeled"][project] == 180
    assert after["alloop_leased_items"][project] == 0
    assert 0 < after["alloop_queue_depth"][project] <= 180
    count = after["alloop_request_seconds_count"]
    assert count[(("endpoint", "next"), ("status", "2xx"))] == 2
    assert count[(("endpoint", "labels"), ("status", "2xx"))] == 2
    assert count[(("endpoint", "labels"), ("status", "4xx"))] == 1
    assert after["alloop_training_round_seconds_count"][project] == 1
    assert after["alloop_training_round_seconds_sum"][project] > 0
    inf = after["alloop_training_round_seconds_bucket"][(("le", "+Inf"), ("project", str(pid)))]
    assert inf == 1


def test_other_routes_are_not_timed(client):
    client.get("/health")
    client.get("/projects")
    assert "alloop_request_seconds_count" not in scrape(client)


def test_the_root_opens_the_labeling_ui(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/ui/"
    assert "<title>" in client.get("/").text
