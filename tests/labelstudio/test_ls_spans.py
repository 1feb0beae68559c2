"""A spans project against the real Label Studio 1.23.2: a <Labels> config, span annotations become alloop's
spans (an edit too), and the newest tagger's spans are pushed as predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_ls_real import linked, wait_for

from alloop.client import Client
from alloop.labelstudio.connect import create_ls_project, import_items
from alloop.labelstudio.lsapi import LabelStudio
from alloop.process import ServerProcess

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

NER = Path(__file__).resolve().parents[1] / "data" / "ner"
TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]


def rows(split: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (NER / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def regions(text: str, spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio's result for span annotations, as its labeling page makes them."""
    return [{"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": s["start"], "end": s["end"], "text": text[s["start"]:s["end"]], "labels": [s["label"]]}}
            for s in spans]


def test_span_annotations_become_spans_and_the_taggers_spans_come_back_as_predictions(
    alloop: Client, alloop_server: ServerProcess, label_studio: LabelStudio
) -> None:
    pool = [r for r in rows("pool") if r["spans"]][:30]
    pid = alloop.create_project(name="ner", labels=TYPES, task="spans", input="text", batch_size=5, retrain_every=4,
                                budget=20, encoder={"name": "hashing", "params": {"dim": 64}}, stabilize=None)["id"]
    ls_pid = create_ls_project(alloop, pid, label_studio)
    config = label_studio.project(ls_pid)["label_config"]
    assert "<Labels" in config and 'granularity="word"' in config and all(f'value="{t}"' in config for t in TYPES)
    import_items(alloop, pid, label_studio, ls_pid, [{"id": f"p{i}", "text": r["text"]} for i, r in enumerate(pool)])
    wait_for(lambda: alloop.project(pid)["ranking"])
    linked(alloop, alloop_server.url, label_studio, pid, ls_pid)

    tasks = {t["data"]["alloop_id"]: t["id"] for t in label_studio.tasks(ls_pid)}
    for i in range(4):
        label_studio.annotate(tasks[f"p{i}"], regions(pool[i]["text"], pool[i]["spans"]))
    exported = {row["item_id"]: row["label"] for row in alloop.export(pid)}
    assert exported == {f"p{i}": sorted(pool[i]["spans"], key=lambda s: s["start"]) for i in range(4)}

    # an edit in Label Studio (one span fewer) replaces the spans alloop holds
    annotation = label_studio.request("GET", f"/api/tasks/{tasks['p0']}/annotations")[0]["id"]
    label_studio.request("PATCH", f"/api/annotations/{annotation}", json={"result": regions(pool[0]["text"], [])})
    assert {row["item_id"]: row["label"] for row in alloop.export(pid)}["p0"] == []

    # the first tagger's spans are pushed as Label Studio predictions of type "labels"
    wait_for(lambda: alloop.project(pid)["model_version"] == 1, timeout=180)
    wait_for(lambda: alloop.request("GET", f"/projects/{pid}/labelstudio/link").json()["pushed_version"] == "alloop-v1",
             timeout=120)
    predictions = [p for p in label_studio.predictions(ls_pid) if p["model_version"] == "alloop-v1"]
    assert any(p["result"] for p in predictions)  # the tagger marks spans in some of the open tasks
    texts = {f"p{i}": r["text"] for i, r in enumerate(pool)}
    by_task = {task_id: item for item, task_id in tasks.items()}
    for prediction in predictions:
        for region in prediction["result"]:
            value = region["value"]
            assert region["type"] == "labels" and value["labels"][0] in TYPES
            assert value["text"] == texts[by_task[prediction["task"]]][value["start"]:value["end"]]
