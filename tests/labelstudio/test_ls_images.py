"""An image project through the real Label Studio: an ``<Image>`` + ``<Choices>`` config, tasks that
link to alloop's image route (signed when alloop's auth is on), CNN predictions pushed for
``toName="image"``, and annotations back to alloop by webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import NO_DEDUP, digit_pictures, write_pngs
from lsserver import TOKEN
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.labelstudio.connect import connect, create_ls_project, import_items, link, wait_for_push
from alloop.labelstudio.lsapi import LabelStudio
from alloop.process import ServerProcess

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

ADMIN = "ls-image-admin"


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, np.ndarray]]:
    X, y = load_digits(return_X_y=True)
    write_pngs(tmp_path / "images", digit_pictures(X[:120]), [f"d/{i}.png" for i in range(120)])
    server = ServerProcess(tmp_path / "alloop", env={"ALLOOP_ADMIN_TOKEN": ADMIN},
                           args=["--image-root", str(tmp_path / "images")]).start()
    try:
        yield server, y[:120]
    finally:
        server.stop()


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def test_an_image_campaign_runs_through_label_studio(image_server, label_studio: LabelStudio) -> None:
    server, y = image_server
    with Client(server.url, token=ADMIN) as alloop:
        pid = alloop.create_project(name="digits", labels=[str(d) for d in range(10)], input="image",
                                    image={"width": 8, "height": 8}, batch_size=5, retrain_every=10, budget=40,
                                    stabilize=None, seed=0, **NO_DEDUP)["id"]
        ls_pid = create_ls_project(alloop, pid, label_studio)
        config = label_studio.project(ls_pid)["label_config"]
        assert '<Image name="image" value="$image"/>' in config and 'toName="image"' in config
        import_items(alloop, pid, label_studio, ls_pid, [{"id": f"d{i}", "image_path": f"d/{i}.png"} for i in range(80)])
        alloop.add_items(pid, [{"id": f"d{i}", "image_path": f"d/{i}.png", "label": str(y[i])}
                               for i in range(80, 120)], "eval")
        tasks = list(label_studio.tasks(ls_pid))
        assert len(tasks) == 80
        for task in tasks[:3]:  # what the annotator's browser loads: alloop's image route, signed, no header
            url = task["data"]["image"]
            assert url.startswith(f"{server.url}/projects/{pid}/items/{task['data']['alloop_id']}/image?sig=")
            picture = httpx.get(url)
            assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")

        connect(label_studio, ls_pid, f"{server.url}/projects/{pid}/labelstudio", token=ADMIN, push_only=True)
        link(alloop, pid, label_studio.url, TOKEN, ls_pid, "push")
        assert wait_for_push(alloop, pid)["pushed_version"] is not None
        labeled = 0
        while alloop.project(pid)["state"] == "running" and labeled < 40:
            task = label_studio.next_task(ls_pid)
            label_studio.annotate(task["id"], choice(str(y[int(task["data"]["alloop_id"][1:])])))
            labeled += 1
        status = alloop.wait_until_settled(pid, timeout=300)
        assert status["labeled"] == 40 and status["model"]["name"] == "cnn" and status["model_version"] >= 2
        assert status["metrics"]["accuracy"] > 0.3  # ten classes: chance is 0.1
        predictions = label_studio.predictions(ls_pid)
        with_labels = [p for p in predictions if p["result"]]
        assert with_labels and {r["to_name"] for p in with_labels for r in p["result"]} == {"image"}
        assert {p["model_version"] for p in predictions} <= {f"alloop-v{v}" for v in range(status["model_version"] + 1)}
