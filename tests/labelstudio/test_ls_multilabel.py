"""A multi-label project against the real Label Studio: a ``choice="multiple"`` config, ticked choices become
label sets (edits and "none ticked" too), predictions are pushed as multiple choices, and a sync finds the
sets equal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from lsserver import TOKEN

from alloop.client import Client
from alloop.labelstudio.connect import connect, create_ls_project, import_items, link, wait_for_push
from alloop.labelstudio.lsapi import LabelStudio
from alloop.process import ServerProcess

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

LABELS = ["red", "green", "blue"]
WORDS = {"red": "apple cherry", "green": "grass leaf", "blue": "sky ocean"}


def rows(n: int) -> list[tuple[str, list[str]]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        chosen = [name for name in LABELS if rng.random() < 0.4]
        out.append((" ".join(WORDS[name] for name in chosen) + f" item {i}", chosen))
    return out


def wait_for(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout}s")


def choices(labels: list[str]) -> list[dict[str, Any]]:
    if not labels:
        return []  # nothing ticked: "none apply"
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": labels}}]


def test_a_multilabel_campaign_through_label_studio(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio
) -> None:
    data = rows(50)
    pid = alloop.create_project(name="colors", labels=LABELS, task="multilabel", input="text", batch_size=5,
                                retrain_every=4, budget=30, encoder={"name": "hashing", "params": {"dim": 256}},
                                stabilize=None, seed=0)["id"]
    ls_pid = create_ls_project(alloop, pid, label_studio)
    assert 'choice="multiple"' in label_studio.project(ls_pid)["label_config"]
    import_items(alloop, pid, label_studio, ls_pid, [{"id": f"t{i}", "text": t} for i, (t, _) in enumerate(data[:40])])
    alloop.add_items(pid, [{"id": f"e{i}", "text": t, "label": y} for i, (t, y) in enumerate(data[40:])], "eval")
    wait_for(lambda: alloop.project(pid)["ranking"])
    connect(label_studio, ls_pid, f"{alloop_server.url}/projects/{pid}/labelstudio")
    link(alloop, pid, label_studio.url, TOKEN, ls_pid, "backend")
    wait_for_push(alloop, pid)
    truth = {f"t{i}": y for i, (_, y) in enumerate(data)}

    given = {}
    for _ in range(12):  # Label Studio's own queue, as an annotator gets it
        task = label_studio.next_task(ls_pid)
        item = task["data"]["alloop_id"]
        label_studio.annotate(task["id"], choices(list(reversed(truth[item]))))  # ticked in any order
        given[item] = truth[item]
    stored = {row["item_id"]: row["label"] for row in alloop.export(pid)}
    assert stored == given  # the sets, in the project's label order, empty ones included

    # an edit in Label Studio changes the set; nothing ticked is "none apply"
    task = next(t for t in label_studio.tasks(ls_pid) if t["data"]["alloop_id"] in given)
    annotation = label_studio.request("GET", f"/api/tasks/{task['id']}/annotations")[0]
    label_studio.request("PATCH", f"/api/annotations/{annotation['id']}", json={"result": choices(["blue", "red"])})
    assert {r["item_id"]: r["label"] for r in alloop.export(pid)}[task["data"]["alloop_id"]] == ["red", "blue"]
    label_studio.request("PATCH", f"/api/annotations/{annotation['id']}", json={"result": []})
    assert {r["item_id"]: r["label"] for r in alloop.export(pid)}[task["data"]["alloop_id"]] == []

    # a model's predictions reach Label Studio as multiple choices
    wait_for(lambda: (alloop.project(pid)["model_version"] or 0) >= 2)
    answer = label_studio.request("POST", "/api/dm/actions", params={"id": "retrieve_tasks_predictions",
                                  "project": ls_pid}, json={"selectedItems": {"all": True, "excluded": []}})
    assert answer["processed_items"] == 40
    version = f"alloop-v{alloop.project(pid)['model_version']}"
    held = {p["task"]: p["result"] for p in label_studio.predictions(ls_pid) if p["model_version"] == version}
    tasks = [t for t in label_studio.tasks(ls_pid) if t["id"] in held]
    ours = alloop.request("POST", f"/projects/{pid}/labelstudio/predict", json={"tasks": tasks}).json()["results"]
    assert tasks and [held[t["id"]] for t in tasks] == [r["result"] for r in ours]
    sets = [r[0]["value"]["choices"] for r in held.values() if r]
    assert sets and all(set(s) <= set(LABELS) for s in sets)
    print(f"\nLS multilabel: {len(sets)} of {len(held)} predictions name labels; sizes {sorted(map(len, sets))}")

    # a sync finds alloop's sets equal to Label Studio's annotations: nothing to add or edit
    again = alloop.request("POST", f"/projects/{pid}/labelstudio/sync").json()["reconciled"]
    assert again == {"added": 0, "edited": 0, "deleted": 0, "refused": 0}
