"""The must-show image campaign: MNIST digits written as PNG files under an images root, imported by
``image_path``, labeled by keyboard on the labeling page in headless Chromium while the CNN retrains
on them, its eval accuracy rising well above chance (0.1)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import NO_DEDUP, write_pngs
from playwright.sync_api import Page, expect

from alloop.client import Client
from alloop.process import ServerProcess
from alloop.simulate.datasets import _idx, shared_data_dir

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("ALLOOP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
POOL, EVAL, LABELS_GIVEN = 400, 300, 60


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    folder = shared_data_dir() / "mnist_test10k"
    if not folder.is_dir():
        pytest.skip(f"the shared MNIST files are absent ({folder}); see ../shared/data/README.md")
    images, labels = _idx(folder / "t10k-images-idx3-ubyte.gz"), _idx(folder / "t10k-labels-idx1-ubyte.gz")
    order = np.random.default_rng(0).permutation(len(labels))[: POOL + EVAL]
    return images[order], labels[order]


@pytest.fixture
def root(tmp_path: Path, mnist) -> Path:
    folder = tmp_path / "images"
    images, _ = mnist
    write_pngs(folder, images, [f"mnist/{i:05d}.png" for i in range(len(images))])
    return folder


@pytest.fixture
def server(tmp_path: Path, root: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", args=["--image-root", str(root)]).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def secured(tmp_path: Path, root: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "secure", args=["--image-root", str(root)],
                            env={"ALLOOP_ADMIN_TOKEN": "ui-image-admin"}).start()
    try:
        yield process
    finally:
        process.stop()


def test_an_mnist_image_campaign_labeled_on_the_page_trains_the_cnn(page: Page, server: ServerProcess, mnist) -> None:
    _, y = mnist
    with Client(server.url) as client:
        pid = client.create_project(
            name="mnist pictures", labels=[str(d) for d in range(10)], input="image",
            image={"width": 28, "height": 28, "color": "gray"}, strategy={"name": "margin"}, batch_size=1,
            retrain_every=10, budget=LABELS_GIVEN, stabilize=None, seed=0, **NO_DEDUP)["id"]
        assert client.project(pid)["model"] == {"name": "cnn", "params": {}, "calibration": "none",
                                                "one_class_rescue": True, "input_shape": [1, 28, 28]}
        client.add_items(pid, [{"id": f"m{i}", "image_path": f"mnist/{i:05d}.png"} for i in range(POOL)])
        client.add_items(pid, [{"id": f"m{i}", "image_path": f"mnist/{i:05d}.png", "label": str(y[i])}
                               for i in range(POOL, POOL + EVAL)], split="eval")

    page.goto(f"{server.url}/ui/projects/{pid}/label")
    labeled = {}
    for n in range(LABELS_GIVEN):
        expect(page.locator("#item")).to_be_visible(timeout=120_000)  # a CNN round on a loaded 2-core machine
        item = page.locator("#item-id").inner_text().split()[1]
        image = page.locator("#item-image")
        expect(image).to_be_visible()
        expect(image).to_have_attribute("src", f"/projects/{pid}/items/{item}/image")
        page.wait_for_function("() => document.getElementById('item-image').naturalWidth > 0")
        natural, drawn = image.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
        assert natural == 28 and drawn >= 200, "the 28x28 digit is drawn from its file, scaled up"
        if n == 0:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "label-page-mnist.png"), full_page=True)
        truth = str(y[int(item.removeprefix("m"))])
        page.keyboard.press(truth)
        labeled[item] = truth
        if n < LABELS_GIVEN - 1:
            expect(page.locator("#status")).to_contain_text(f"Labeled {item} as “{truth}”", timeout=120_000)
    expect(page.locator("#finished")).to_be_visible(timeout=120_000)

    with Client(server.url) as client:
        status = client.wait_until_settled(pid, timeout=300)
        curve = client.metrics(pid)
        rows = {row["item_id"]: row["label"] for row in client.export(pid)}
    assert rows == labeled and status["stop_reason"] == "budget_exhausted"
    assert len(curve) >= 4 and curve[-1]["labels"] == LABELS_GIVEN  # retrained as labels came, and on all of them
    accuracy = [point["accuracy"] for point in curve]
    assert accuracy[-1] > 0.5, accuracy  # ten classes: chance is 0.1
    assert accuracy[-1] > accuracy[0] + 0.1, accuracy


def test_with_auth_on_an_annotator_token_sees_the_file_through_its_signed_link(page: Page, secured: ServerProcess,
                                                                                 mnist) -> None:
    _, y = mnist
    with Client(secured.url, token="ui-image-admin") as client:
        pid = client.create_project(name="mnist", labels=[str(d) for d in range(10)], input="image",
                                    image={"width": 28, "height": 28}, **NO_DEDUP)["id"]
        client.add_items(pid, [{"id": f"m{i}", "image_path": f"mnist/{i:05d}.png"} for i in range(20)])
        token = client.request("POST", f"/projects/{pid}/tokens", json={"role": "annotator", "name": "ann"}).json()
    page.goto(f"{secured.url}/ui/projects/{pid}/label")
    page.locator("#token-form input").fill(token["token"])
    page.locator("#token-form button").click()
    expect(page.locator("#item")).to_be_visible(timeout=60_000)
    item = page.locator("#item-id").inner_text().split()[1]
    src = re.compile("/items/" + item + r"/image\?sig=[0-9a-f]{32}$")
    expect(page.locator("#item-image")).to_have_attribute("src", src)
    page.wait_for_function("() => document.getElementById('item-image').naturalWidth === 28")
    page.keyboard.press(str(y[int(item.removeprefix("m"))]))
    expect(page.locator("#status")).to_contain_text(f"Labeled {item} as")
