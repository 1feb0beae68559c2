"""``/next`` over HTTP while the loop is behind: it long-polls for the next ranking, answers why it
has nothing (with ``retry_after``), checks ``wait``, and keeps serving when the loop fails."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import make_campaign, wait_for

import alloop.loop.rounds


@pytest.fixture
def paused(client):
    """The loop's rounds wait until ``paused.set()``."""
    gate = threading.Event()
    controller = client.app.state.controller
    run = controller._execute

    def gated(project_id, due):
        gate.wait(30)
        return run(project_id, due)

    controller._execute = gated
    yield gate
    gate.set()


@pytest.mark.parametrize("wait", [-1, 60.5, 1e9, "soon", True, [1]])
def test_a_bad_wait_is_a_422_that_says_why(client, digits, wait):
    pid = make_campaign(client, digits, pool=30, evals=0)
    r = client.post(f"/projects/{pid}/next", json={"annotator": "a", "wait": wait})
    assert r.status_code == 422 and "wait" in r.text


def test_without_a_ranking_next_answers_why_and_when_to_ask_again(client, digits, paused):
    pid = make_campaign(client, digits, pool=50, evals=0)
    started = time.monotonic()
    r = client.post(f"/projects/{pid}/next", json={"annotator": "a", "wait": 0})
    assert time.monotonic() - started < 2
    body = r.json()
    assert (body["items"], body["done"], body["reason"], body["ranking"]) == ([], False, "cold_start", None)
    assert body["retry_after"] > 0 and int(r.headers["Retry-After"]) >= 1


def test_next_waits_for_the_ranking_and_answers_as_soon_as_it_lands(client, digits, paused):
    pid = make_campaign(client, digits, pool=50, evals=0)
    threading.Timer(0.4, paused.set).start()
    started = time.monotonic()
    body = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 5, "wait": 20}).json()
    elapsed = time.monotonic() - started
    assert 0.3 < elapsed < 10
    assert len(body["items"]) == 5 and {item["strategy"] for item in body["items"]} == {"cold_start:kmeans++"}
    assert body["reason"] is None and "retry_after" not in body


def test_a_wait_that_runs_out_answers_an_empty_batch(client, digits, paused):
    pid = make_campaign(client, digits, pool=50, evals=0)
    started = time.monotonic()
    body = client.post(f"/projects/{pid}/next", json={"annotator": "a", "wait": 0.6}).json()
    assert time.monotonic() - started >= 0.6
    assert (body["items"], body["reason"]) == ([], "cold_start")


def test_while_the_loop_fails_next_serves_what_there_is(client, digits, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(alloop.loop.rounds, "execute_round", broken)
    pid = make_campaign(client, digits, pool=50, evals=0)
    status = wait_for(client, pid, lambda s: s["last_error"])
    assert "out of memory" in status["last_error"]
    body = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 3, "wait": 0}).json()
    assert len(body["items"]) == 3 and {item["strategy"] for item in body["items"]} == {"unranked"}


def test_status_shows_the_ranking_age_and_the_loop_settling(client, digits):
    pid = make_campaign(client, digits, pool=100, evals=50, budget=20, retrain_every=20)
    status = wait_for(client, pid, lambda s: s["ranking"])
    assert (status["max_stale_labels"], status["settled"], status["labeled_after_stop"]) == (40, False, 0)
    assert status["ranking"]["labels"] == 0 and status["ranking"]["stale_labels"] == 0
    for who in ("a", "b"):
        batch = client.post(f"/projects/{pid}/next", json={"annotator": who}).json()["items"]
        client.post(f"/projects/{pid}/labels", json={"labels": [
            {"item_id": item["id"], "label": str(digits[1][int(item["id"][1:])]), "annotator": who} for item in batch]})
    status = wait_for(client, pid, lambda s: s["settled"])
    assert (status["state"], status["labeled"], status["model_version"], status["activity"]) == ("done", 20, 1, None)
    rows = client.get(f"/projects/{pid}/export").text.splitlines()
    assert len(rows) == 20 and all('"strategy": "cold_start:kmeans++"' in row for row in rows)
    assert all('"stale_labels": 0' in row or '"stale_labels": 10' in row for row in rows)
