"""alloop against the real Label Studio (its own venv; see scripts/labelstudio_env).

Checked: alloop connects as an ML backend and predicts in one batch; with only ``connect`` (no
sync process) Label Studio's own queue serves alloop's top-ranked open task to two users across
retrains, and keeps at most two predictions per task; webhooks retrain; an outage (alloop down
while annotations are made, edited and deleted) is reconciled on start-up; a stopped campaign
stops Label Studio serving, and a larger budget resumes it; push mode without the ML backend;
labels from Label Studio carry the version and score that were shown.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lsserver import TOKEN
from typer.testing import CliRunner

from alloop.client import Client
from alloop.labelstudio.cli import app as cli
from alloop.labelstudio.connect import connect, create_ls_project, import_items, link, wait_for_push
from alloop.labelstudio.lsapi import LabelStudio, LabelStudioError
from alloop.process import ServerProcess

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


def campaign(alloop: Client, ls: LabelStudio, *, budget: int, pool: int = 40, retrain_every: int = 4,
             ) -> tuple[int, int, dict[str, str]]:
    """A text campaign in alloop and the same items as Label Studio tasks; waits for the first ranking."""
    pid = alloop.create_project(
        name="sms", labels=["ham", "spam"], input="text", batch_size=5, retrain_every=retrain_every, budget=budget,
        encoder={"name": "hashing", "params": {"dim": 256}}, stabilize=None, seed=0,
    )["id"]
    rows = texts(pool + 10)
    ls_pid = create_ls_project(alloop, pid, ls)
    import_items(alloop, pid, ls, ls_pid, [{"id": f"t{i}", "text": text} for i, (_, text) in enumerate(rows[:pool])])
    alloop.add_items(pid, [{"id": f"e{i}", "text": text, "label": label}
                           for i, (label, text) in enumerate(rows[pool:])], "eval")
    wait_for(lambda: alloop.project(pid)["ranking"])
    return pid, ls_pid, {f"t{i}": label for i, (label, _) in enumerate(rows)}


def linked(alloop: Client, alloop_url: str, ls: LabelStudio, pid: int, ls_pid: int, *,
           push_only: bool = False) -> dict[str, Any]:
    """``connect`` as the CLI does it: the Label Studio side, the link, and alloop's first push."""
    connect(ls, ls_pid, f"{alloop_url}/projects/{pid}/labelstudio", push_only=push_only)
    link(alloop, pid, ls.url, TOKEN, ls_pid, "push" if push_only else "backend")
    return wait_for_push(alloop, pid)


def pushed(alloop: Client, pid: int) -> bool:
    """alloop's served ranking is the one Label Studio orders by (the push after a retrain landed)."""
    state = alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()
    current = alloop.request("GET", f"/projects/{pid}/labelstudio/health").json()["model_version"]
    return state["pushed_version"] == current and not alloop.project(pid)["training"]


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def annotations(ls: LabelStudio, ls_pid: int) -> dict[str, str]:
    """alloop item id -> label, of every annotation Label Studio holds."""
    found = {}
    for task in ls.annotated_tasks(ls_pid):
        for annotation in task["annotations"]:
            found[task["data"]["alloop_id"]] = annotation["result"][0]["value"]["choices"][0]
    return found


def test_ml_backend_connects_predicts_in_one_batch_and_webhooks_retrain(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio, label_studio_log: Callable[[], str]
) -> None:
    pid, ls_pid, truth = campaign(alloop, label_studio, budget=30)
    backend = connect(label_studio, ls_pid, f"{alloop_server.url}/projects/{pid}/labelstudio")
    assert (backend["state"], backend["model_version"]) == ("CO", "alloop-v0")

    answer = label_studio.request("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions",
                                  "project": ls_pid}, json={"selectedItems": {"all": True, "excluded": []}})
    assert answer["processed_items"] == 40
    tasks = list(label_studio.tasks(ls_pid))
    predictions = label_studio.predictions(ls_pid)
    assert {p["task"] for p in predictions} == {t["id"] for t in tasks}
    assert {p["model_version"] for p in predictions} == {"alloop-v0"}
    assert "one-by-one" not in label_studio_log()  # Label Studio took all 40 from one /predict call

    for task in tasks[:4]:
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    # Webhooks are delivered while Label Studio answers the annotation call.
    assert alloop.project(pid)["labeled"] == 4
    assert {row["annotator"] for row in alloop.export(pid)} == {"labelstudio:1"}
    assert wait_for(lambda: alloop.project(pid)["model_version"]) == 1

    first = tasks[0]
    annotation_id = label_studio.request("GET", f"/api/tasks/{first['id']}/annotations")[0]["id"]
    other = "spam" if truth[first["data"]["alloop_id"]] == "ham" else "ham"
    label_studio.request("PATCH", f"/api/annotations/{annotation_id}", json={"result": choice(other)})
    stored = {row["item_id"]: row["label"] for row in alloop.export(pid)}
    assert stored[first["data"]["alloop_id"]] == other
    label_studio.request("DELETE", f"/api/annotations/{annotation_id}")
    assert alloop.project(pid)["labeled"] == 3


def test_connect_alone_makes_label_studio_serve_alloops_order_to_two_users_across_retrains(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio, second_annotator: LabelStudio
) -> None:
    pid, ls_pid, truth = campaign(alloop, label_studio, budget=50, pool=80, retrain_every=10)
    state = linked(alloop, alloop_server.url, label_studio, pid, ls_pid)
    assert label_studio.project(ls_pid)["model_version"] == state["pushed_version"] == "alloop-v0"
    users = {"first": label_studio, "second": second_annotator}
    matches, serves, most_predictions = 0, 0, 0
    for _ in range(25):
        wait_for(lambda: pushed(alloop, pid), timeout=60)  # a retrain's push lands in about a second
        open_tasks = [t for t in label_studio.tasks(ls_pid) if not t["is_labeled"]]
        scores = alloop.request("POST", f"/projects/{pid}/labelstudio/predict", json={"tasks": open_tasks}).json()
        ranked = [t["id"] for t, r in sorted(zip(open_tasks, scores["results"]), key=lambda pair: pair[1]["score"])]
        held = {}
        for name, ls in users.items():  # both hold a task at once: the second one's top excludes the first's
            task = ls.next_task(ls_pid)
            expected = next(t for t in ranked if t not in held.values())
            matches += task["id"] == expected
            serves += 1
            held[name] = task["id"]
        for name, ls in users.items():
            task_id = held[name]
            item = next(t for t in open_tasks if t["id"] == task_id)["data"]["alloop_id"]
            ls.annotate(task_id, choice(truth[item]))
        counts = Counter(p["task"] for p in label_studio.predictions(ls_pid))
        most_predictions = max(most_predictions, max(counts.values()))
    status = wait_for(lambda: (s := alloop.project(pid))["settled"] and s)
    print(f"\nLS: {matches} of {serves} serves were alloop's top open task; most predictions per task {most_predictions}")
    assert serves == 50 and matches >= 48, f"{matches} of {serves} serves were alloop's top open task"
    assert status["model_version"] >= 5 and status["labeled"] == 50
    assert most_predictions <= 2  # superseded predictions are deleted after every push
    rows = alloop.export(pid)
    assert {r["annotator"] for r in rows} == {"labelstudio:1", "labelstudio:2"}
    # what Label Studio showed: the pushed ranking's version, score and strategy
    assert all(r["score"] is not None and r["strategy"] in ("margin", "cold_start:kmeans++") for r in rows)
    assert {r["model_version"] for r in rows} >= {None, 1, 2}


def test_an_outage_is_reconciled_when_alloop_starts_again(
    alloop_server: ServerProcess, label_studio: LabelStudio
) -> None:
    with Client(alloop_server.url) as alloop:
        pid, ls_pid, truth = campaign(alloop, label_studio, budget=30, retrain_every=50)
        linked(alloop, alloop_server.url, label_studio, pid, ls_pid)
        done = []
        for _ in range(3):
            task = label_studio.next_task(ls_pid)
            done.append(label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]])))
        assert alloop.project(pid)["labeled"] == 3
    alloop_server.stop()
    # While alloop is down: two new annotations, one edited, one deleted. Label Studio does not retry webhooks.
    for _ in range(2):
        task = label_studio.next_task(ls_pid)
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    edited = done[0]
    old = edited["result"][0]["value"]["choices"][0]
    label_studio.request("PATCH", f"/api/annotations/{edited['id']}",
                         json={"result": choice("spam" if old == "ham" else "ham")})
    label_studio.request("DELETE", f"/api/annotations/{done[1]['id']}")
    expected = annotations(label_studio, ls_pid)
    assert len(expected) == 4
    started = time.time()
    alloop_server.start()
    with Client(alloop_server.url) as alloop:
        wait_for(lambda: (alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()["reconciled_at"]
                          or 0) > started)
        rows = alloop.export(pid)
        assert {r["item_id"]: r["label"] for r in rows} == expected
        assert alloop.project(pid)["labeled"] == 4
        # a second pass finds nothing left to do
        again = alloop.request("POST", f"/projects/{pid}/labelstudio/sync").json()["reconciled"]
        assert again == {"added": 0, "edited": 0, "deleted": 0, "refused": 0}


def test_a_stopped_campaign_stops_label_studio_serving_until_the_budget_grows(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio, second_annotator: LabelStudio
) -> None:
    pid, ls_pid, truth = campaign(alloop, label_studio, budget=6)
    linked(alloop, alloop_server.url, label_studio, pid, ls_pid)
    for _ in range(6):
        task = label_studio.next_task(ls_pid)
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    assert alloop.project(pid)["state"] == "done"
    wait_for(lambda: alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()["paused"])
    for ls in (label_studio, second_annotator):
        with pytest.raises(LabelStudioError) as refused:
            ls.next_task(ls_pid)
        assert refused.value.status == 404  # "There are no tasks": annotators get the end-of-queue screen
    alloop.request("PATCH", f"/projects/{pid}", json={"budget": 10})
    wait_for(lambda: not alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()["paused"])
    task = second_annotator.next_task(ls_pid)
    second_annotator.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))
    assert alloop.project(pid)["labeled"] == 7


def test_push_mode_runs_a_campaign_through_label_studio_to_its_budget(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio
) -> None:
    budget = 12
    pid, ls_pid, truth = campaign(alloop, label_studio, budget=budget)
    linked(alloop, alloop_server.url, label_studio, pid, ls_pid, push_only=True)
    assert label_studio.request("GET", "/api/ml", params={"project": ls_pid}) == []  # no ML backend
    versions = set()
    while alloop.project(pid)["state"] == "running":
        wait_for(lambda: pushed(alloop, pid))
        versions.add(label_studio.project(ls_pid)["model_version"])
        task = label_studio.next_task(ls_pid)
        label_studio.annotate(task["id"], choice(truth[task["data"]["alloop_id"]]))  # reaches alloop by webhook
    assert {"alloop-v0", "alloop-v1", "alloop-v2"} <= versions
    status = wait_for(lambda: (s := alloop.project(pid))["settled"] and s)
    assert (status["stop_reason"], status["labeled"], len(alloop.export(pid))) == ("budget_exhausted", budget, budget)
    wait_for(lambda: alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()["paused"])
    with pytest.raises(LabelStudioError):
        label_studio.next_task(ls_pid)

    # disconnect: the webhook goes, the link goes, and the tasks the stop marked done are open again
    result = CliRunner().invoke(cli, ["disconnect", "--alloop", alloop_server.url, "--project", str(pid),
                                      "--label-studio", label_studio.url, "--ls-token", TOKEN])
    assert result.exit_code == 0, result.output
    assert "removed 0 ML backend(s) and 1 webhook(s)" in result.output
    assert label_studio.webhooks(ls_pid) == []
    with pytest.raises(Exception, match="404"):
        alloop.request("GET", f"/projects/{pid}/labelstudio/link")
    assert label_studio.next_task(ls_pid)["data"]["alloop_id"]


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
            assert "(state CO)" in result.output and "'added': 12" in result.output
            assert "alloop pushed alloop-v0" in result.output
            ls_pid = int(result.output.split("Label Studio project ")[1].split(":")[0])
            state = alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()
            assert "token" not in state and state["mode"] == "backend"
            task = label_studio.next_task(ls_pid)
            label_studio.annotate(task["id"], choice("spam"))
            assert [r["item_id"] for r in alloop.export(pid)] == [task["data"]["alloop_id"]]
            once = CliRunner().invoke(cli, ["sync", "--once", "--alloop", server.url, "--project", str(pid),
                                            "--token", token["token"]])
            assert once.exit_code == 0, once.output
            answer = json.loads(once.output.strip().splitlines()[-1])
            assert answer["reconciled"] == {"added": 0, "edited": 0, "deleted": 0, "refused": 0}
            assert alloop.project(pid)["labeled"] == 1
    finally:
        server.stop()
