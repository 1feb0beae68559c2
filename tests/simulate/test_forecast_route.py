"""GET /projects/{id}/forecast: the live forecast, its error shape and its auth."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from alloop.app import create_app
from alloop.settings import Settings
from alloop.store.rounds import record_round


def project(client, **fields):
    body = {"name": "f", "labels": ["a", "b"], **fields}
    r = client.post("/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def add_curve(client, pid, points):
    store = client.app.state.store
    with store.write() as conn:
        for n, acc in points:
            record_round(
                conn,
                pid,
                {
                    "created_at": time.time(),
                    "n_labels": n,
                    "metrics": {"accuracy": acc, "macro_f1": acc - 0.02},
                },
            )


CURVE = [(n, 0.95 - 2.0 * n**-0.6) for n in (20, 40, 60, 80, 100)]


def test_forecast_from_the_projects_target(client):
    pid = project(client, target={"metric": "accuracy", "value": 0.9})
    add_curve(client, pid, CURVE)
    r = client.get(f"/projects/{pid}/forecast")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["project_id"] == pid and body["target"] == 0.9 and body["metric"] == "accuracy"
    assert body["labels_needed"] == pytest.approx((2.0 / 0.05) ** (1 / 0.6) - 100, rel=0.05)
    lo, hi = body["interval"]
    assert lo <= body["labels_needed"] <= hi
    assert body["model"]["formula"] == "metric(n) = a - b * n^(-c)" and body["fit_points"] == 5


def test_query_overrides_the_target_and_metric(client):
    pid = project(client, target={"metric": "accuracy", "value": 0.5})
    add_curve(client, pid, CURVE)
    body = client.get(
        f"/projects/{pid}/forecast", params={"target": 0.88, "metric": "macro_f1"}
    ).json()
    assert body["target"] == 0.88 and body["metric"] == "macro_f1" and body["labels_needed"] > 0


def test_not_enough_points_is_a_clear_answer(client):
    pid = project(client, target={"metric": "accuracy", "value": 0.9})
    add_curve(client, pid, CURVE[:2])
    body = client.get(f"/projects/{pid}/forecast").json()
    assert body["labels_needed"] is None and body["reason"].startswith("not enough points yet")


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ({}, 422, "no target"),
        ({"target": 1.5}, 422, "target"),
        ({"target": 0.9, "metric": "recall"}, 422, "metric"),
    ],
)
def test_errors_have_the_one_shape(client, query, status, needle):
    pid = project(client)
    r = client.get(f"/projects/{pid}/forecast", params=query)
    assert r.status_code == status and list(r.json()) == ["detail"] and needle in r.json()["detail"]


def test_unknown_project(client):
    r = client.get("/projects/999/forecast", params={"target": 0.9})
    assert r.status_code == 404 and r.json() == {"detail": "project 999 not found"}


def test_needs_the_token(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", admin_token="s3cret", worker="thread")
    with TestClient(create_app(settings)) as c:
        assert c.get("/projects/1/forecast").status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        pid = c.post("/projects", json={"name": "f", "labels": ["a", "b"]}, headers=ok).json()["id"]
        assert (
            c.get(f"/projects/{pid}/forecast", params={"target": 0.9}, headers=ok).status_code
            == 200
        )
