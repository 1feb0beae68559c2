"""alloop against the real Label Studio (its own venv; see scripts/labelstudio_env).

Checked: alloop connects as an ML backend, predictions come in one batch, annotations made
through Label Studio's API reach alloop by webhook and trigger a retrain, Label Studio serves
tasks in alloop's order after a push, and a push-mode campaign stops at its budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsserver import TOKEN
from typer.testing import CliRunner

from server.client import Client
from server.labelstudio.__main__ import app as cli
from server.labelstudio.lsapi import LabelStudio
from server.labelstudio.sync import Sync, connect
from server.process import ServerProcess

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

SPAM = ["win a free prize now", "free entry claim your cash", "urgent call now to claim", "cheap loans text now"]
HAM = ["see you at lunch", "are we still meeting today", "call me when you get home", "thanks for dinner"]


def texts(n: int) -> list[tuple[str, str]]:
    return [("spam", f"{SPAM[i % 4]} {i}") if i % 3 == 0 else ("ham", f"{HAM[i % 4]} {i}") for i in range(n)]


def wait_for(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout}s")


def campaign(alloop: Client, ls: LabelStudio, *, budget: int, pool: int = 40) -> tuple[Sync, dict[str, str]]:
    """A text campaign in alloop and the same items as Label Studio tasks; waits for the first ranking."""
    pid = alloop.create_project(
        name="sms", labels=["ham", "spam"], input="text", batch_size=5, retrain_every=4, budget=budget,
        encoder={"name": "hashing", "params": {"dim": 256}}, stabilize=None, seed=0,
    )["id"]
    rows = texts(pool + 10)
    sync = Sync.create_project(alloop, pid, ls)
    sync.import_items([{"id": f"t{i}", "text": text} for i, (_, text) in enumerate(rows[:pool])])
    alloop.add_items(pid, [{"id": f"e{i}", "text": text, "label": label}
                           for i, (label, text) in enumerate(rows[pool:])], "eval")
    wait_for(lambda: alloop.project(pid)["ranking"])
    return sync, {f"t{i}": label for i, (label, _) in enumerate(rows)}


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def test_ml_backend_connects_predicts_in_one_batch_and_webhooks_retrain(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio, label_studio_log: Callable[[], str]
) -> None:
    sync, truth = campaign(alloop, label_studio, budget=30)
    pid, ls_pid = sync.project_id, sync.ls_project
    backend = connect(label_studio, ls_pid, f"{alloop_server.url}/projects/{pid}/labelstudio")
    assert (backend["state"], backend["model_version"]) == ("CO", "alloop-v0")

    answer = label_studio.request("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions",
                                  "project": ls_pid}, json={"selectedItems": {"all": True, "excluded": []}})
    assert answer["processed_items"] == 40
    tasks = list(label_studio.tasks(ls_pid))
    predictions = label_studio.request("GET", "/api/predictions", params={"project": ls_pid})
    assert {p["task"] for p in predictions} == {t["id"] for t in tasks}
    assert {p["model_version"] for p in predictions} == {"alloop-v0"}
    assert "one-by-one" not in label_studio_log()  # Label Studio took all 40 from one /predict call

    for task in tasks[:4]:
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    # Webhooks are delivered while Label Studio answers the annotation call.
    assert alloop.project(pid)["labeled"] == 4
    assert {row["annotator"] for row in alloop.export(pid)} == {"labelstudio:1"}
    assert wait_for(lambda: alloop.project(pid)["model_version"]) == 1
    assert sync.version() == "alloop-v1"

    first = tasks[0]
    annotation_id = label_studio.request("GET", f"/api/tasks/{first['id']}/annotations")[0]["id"]
    other = "spam" if truth[first["data"]["alloop_id"]] == "ham" else "ham"
    label_studio.request("PATCH", f"/api/annotations/{annotation_id}", json={"result": choice(other)})
    stored = {row["item_id"]: row["label"] for row in alloop.export(pid)}
    assert stored[first["data"]["alloop_id"]] == other
    label_studio.request("DELETE", f"/api/annotations/{annotation_id}")
    assert alloop.project(pid)["labeled"] == 3


def test_label_studio_serves_tasks_in_alloop_order_after_a_retrain(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio
) -> None:
    sync, truth = campaign(alloop, label_studio, budget=30)
    pid, ls_pid = sync.project_id, sync.ls_project
    connect(label_studio, ls_pid, f"{alloop_server.url}/projects/{pid}/labelstudio")
    assert sync.push() == "alloop-v0"
    for _ in range(4):
        task = label_studio.next_task(ls_pid)
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    wait_for(lambda: alloop.project(pid)["model_version"] == 1)

    assert sync.push() == "alloop-v1"
    assert label_studio.project(ls_pid)["model_version"] == "alloop-v1"
    open_tasks = [t for t in label_studio.tasks(ls_pid) if not t["is_labeled"]]
    scores = alloop.request("POST", f"/projects/{pid}/labelstudio/predict", json={"tasks": open_tasks}).json()
    expected = [t["data"]["alloop_id"] for t, _ in sorted(zip(open_tasks, scores["results"]),
                                                          key=lambda pair: pair[1]["score"])]
    served = []
    for _ in range(3):
        task = label_studio.next_task(ls_pid)
        served.append(task["data"]["alloop_id"])
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    assert served == expected[:3]
    # alloop's own /next serves the same order.
    assert alloop.next(pid, "probe", n=1)["items"][0]["id"] == expected[3]


def test_push_mode_campaign_runs_through_label_studio_and_stops_at_its_budget(
    alloop: Client, label_studio: LabelStudio
) -> None:
    budget = 12
    sync, truth = campaign(alloop, label_studio, budget=budget)
    pid, ls_pid = sync.project_id, sync.ls_project
    pushed = set()
    for _ in range(budget + 5):
        sync.step()
        pushed.add(sync.pushed_version)
        if alloop.project(pid)["state"] == "done":
            break
        task = label_studio.next_task(ls_pid)
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
        wait_for(lambda: not alloop.project(pid)["training"], timeout=30)
    status = alloop.project(pid)
    assert (status["state"], status["stop_reason"], status["labeled"]) == ("done", "budget_exhausted", budget)
    assert {"alloop-v0", "alloop-v1", "alloop-v2"} <= pushed

    # One more annotation in Label Studio is pulled but not counted past the budget.
    extra = label_studio.next_task(ls_pid)
    label_studio.annotate(extra["id"], choice(truth[extra["data"]["alloop_id"]]))
    assert sync.pull() == 1
    assert alloop.project(pid)["labeled"] == budget
    assert len(alloop.export(pid)) == budget
    assert wait_for(lambda: alloop.metrics(pid) and alloop.metrics(pid)[-1]["labels"] == budget)


def test_cli_connects_an_auth_on_alloop_with_basic_auth_and_an_authorized_webhook(
    tmp_path: Path, label_studio: LabelStudio
) -> None:
    server = ServerProcess(tmp_path / "secure", env={"ALLOOP_ADMIN_TOKEN": "ls-admin-token"}).start()
    try:
        with Client(server.url, token="ls-admin-token") as alloop:
            pid = alloop.create_project(name="sms", labels=["ham", "spam"], input="text", retrain_every=50,
                                        encoder={"name": "hashing", "params": {"dim": 64}})["id"]
            token = alloop.request("POST", f"/projects/{pid}/tokens", json={"role": "admin", "name": "ls"}).json()
            rows = texts(12)
            items = tmp_path / "items.jsonl"
            items.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, (_, t) in enumerate(rows)))
            args = ["connect", "--alloop", server.url, "--project", str(pid), "--token", token["token"],
                    "--label-studio", label_studio.url, "--ls-token", TOKEN, "--items", str(items)]
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert "state CO" in result.output and "'added': 12" in result.output
            ls_pid = int(result.output.split("Label Studio project ")[1].split(":")[0])
            wait_for(lambda: alloop.project(pid)["ranking"])
            answer = label_studio.request("POST", "/api/dm/actions", params={
                "id": "retrieve_tasks_predictions", "project": ls_pid}, json={"selectedItems": {"all": True}})
            assert answer["processed_items"] == 12
            task = label_studio.next_task(ls_pid)
            label_studio.annotate(task["id"], choice("spam"))
            assert [r["item_id"] for r in alloop.export(pid)] == [task["data"]["alloop_id"]]
            once = CliRunner().invoke(cli, ["sync", "--once", "--alloop", server.url, "--project", str(pid),
                                            "--token", token["token"], "--label-studio", label_studio.url,
                                            "--ls-token", TOKEN, "--ls-project", str(ls_pid)])
            assert once.exit_code == 0, once.output
            # A fresh sync forwards the annotation again: alloop counts it as a duplicate, not twice.
            assert json.loads(once.output.strip().splitlines()[-1]) == {"pulled": 1, "pushed": "alloop-v0"}
            assert alloop.project(pid)["labeled"] == 1
    finally:
        server.stop()
