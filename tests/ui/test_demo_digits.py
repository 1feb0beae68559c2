"""A first run as a person sees it: `alloop serve --demo`, `/` opens the UI, digits shown as images,
labeled by keyboard; the model's suggestion confirmed with Enter."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import load_digits

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("ALLOOP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
"""Where the run leaves its screenshots (CI keeps this folder; build/ is not tracked)."""


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", args=["--demo"]).start()
    try:
        yield process
    finally:
        process.stop()


def shown(page: Page) -> str:
    expect(page.locator("#item")).to_be_visible()
    return page.locator("#item-id").inner_text().split()[1]


def test_a_person_labels_ten_demo_digits_by_keyboard_from_their_images(page: Page, demo: ServerProcess) -> None:
    _, y = load_digits(return_X_y=True)
    page.goto(f"{demo.url}/")
    expect(page).to_have_url(f"{demo.url}/ui/")
    page.get_by_role("link", name="label").first.click()
    expect(page).to_have_url(f"{demo.url}/ui/projects/1/label")
    expect(page.locator("#labels kbd")).to_have_text([str(d) for d in range(10)])  # "3" is the key for 3
    labeled = []
    for n in range(10):
        item = shown(page)
        image = page.locator("#item-image")
        expect(image).to_be_visible()
        natural, drawn = image.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
        assert natural == 8 and drawn >= 200, "the 8x8 digit is drawn scaled up"
        expect(page.locator("#item-text")).to_be_hidden()  # no "vector of 64 numbers"
        if n == 0:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = page.screenshot(path=str(ARTIFACTS / "label-page-digits.png"), full_page=True)
            assert shot.startswith(b"\x89PNG") and len(shot) > 5_000
        truth = str(y[int(item.removeprefix("digit-"))])
        page.keyboard.press(truth)
        expect(page.locator("#status")).to_contain_text(f"Labeled {item} as “{truth}”")
        labeled.append((item, truth))
    with Client(demo.url) as client:
        rows = {row["item_id"]: row for row in client.export(1)}
    assert {(item, rows[item]["label"]) for item, _ in labeled} == set(labeled)
    assert len(rows) == 10 and {row["annotator"] for row in rows.values()} == {"annotator"}


def test_the_models_suggestion_is_preselected_and_enter_confirms_it(page: Page, demo: ServerProcess) -> None:
    _, y = load_digits(return_X_y=True)
    with Client(demo.url) as client:  # the demo retrains every 20 labels: give it its first 20
        client.wait_until_ready(1)  # its first ranking (slower on a loaded machine, or on PostgreSQL)
        batch = client.next(1, "warmup", n=20)["items"]
        client.label(1, [{"item_id": it["id"], "label": str(y[int(it["id"].removeprefix("digit-"))]),
                          "annotator": "warmup"} for it in batch])
        deadline = time.monotonic() + 120
        while client.project(1)["model_version"] is None:
            assert time.monotonic() < deadline, "no model within 120 s"
            time.sleep(0.2)
    page.goto(f"{demo.url}/ui/projects/1/label")
    suggestion = page.locator("#suggestion")
    expect(suggestion).to_be_visible()
    item = shown(page)
    text = suggestion.inner_text()
    assert "Model v1 suggests" in text and "press Enter" in text
    suggested = page.locator("#labels button.suggested")
    expect(suggested).to_have_count(1)
    label = suggested.get_attribute("data-label")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "label-page-suggestion.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text(f"Labeled {item} as “{label}”")
    with Client(demo.url) as client:
        assert {row["item_id"]: row["label"] for row in client.export(1)}[item] == label
