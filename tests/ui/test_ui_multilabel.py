"""The labeling page on a multi-label project, in headless Chromium against a real server: toggles, keys, none."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from multilabel_data import LABELS, answer, ml_data
from playwright.sync_api import Page, expect

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow


def campaign(url: str, **config) -> tuple[int, dict[str, list[str]]]:
    X, Y = ml_data(120)
    with Client(url) as client:
        pid = client.create_project(name="colors", labels=LABELS, task="multilabel", dedup="off", batch_size=5,
                                    retrain_every=5, budget=60, stabilize=None, **config)["id"]
        client.add_items(pid, [{"id": f"p{i}", "features": X[i].tolist(), "meta": {"text": f"swatch {i}"}}
                               for i in range(100)])
        client.add_items(pid, [{"id": f"e{i}", "features": X[i].tolist(), "label": answer(Y[i])}
                               for i in range(100, 120)], "eval")
    return pid, {f"p{i}": answer(Y[i]) for i in range(100)}


def shown_item(page: Page) -> str:
    expect(page.locator("#item")).to_be_visible()
    return page.locator("#item-id").inner_text().split()[1]


def stored(url: str, pid: int) -> dict[str, list[str]]:
    with Client(url) as client:
        return {row["item_id"]: row["label"] for row in client.export(pid)}


def toggles(page: Page):
    return page.locator("#labels button[data-label]")


def test_number_keys_toggle_enter_sends_the_set_and_n_sends_none(page: Page, server: ServerProcess,
                                                                 tmp_path: Path) -> None:
    pid, _ = campaign(server.url)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    expect(toggles(page)).to_have_count(len(LABELS))
    expect(page.locator("#labels button[data-label] kbd")).to_have_text(["1", "2", "3", "4", "5"])
    first = shown_item(page)
    expect(page.locator("#send-set")).to_be_disabled()  # nothing toggled yet: no empty set by accident
    page.keyboard.press("3")
    page.keyboard.press("1")
    page.keyboard.press("5")
    page.keyboard.press("5")  # toggled off again
    expect(page.get_by_role("button", name="red")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="pink")).to_have_attribute("aria-pressed", "false")
    page.screenshot(path=str(tmp_path / "multilabel-toggled.png"))
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text(f"Labeled {first} as “red, blue”")
    assert stored(server.url, pid)[first] == ["red", "blue"]

    second = shown_item(page)
    assert second != first
    expect(page.get_by_role("button", name="red")).to_have_attribute("aria-pressed", "false")  # a fresh item
    page.keyboard.press("Enter")  # nothing toggled: nothing is sent
    expect(page.locator("#status")).to_contain_text("press n if none apply")
    assert second not in stored(server.url, pid)
    page.keyboard.press("n")
    expect(page.locator("#status")).to_contain_text(f"Labeled {second} as “none apply”")
    assert stored(server.url, pid)[second] == []


def test_clicks_toggle_and_the_send_button_sends(page: Page, server: ServerProcess) -> None:
    pid, _ = campaign(server.url)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    item = shown_item(page)
    page.get_by_role("button", name="green").click()
    page.get_by_role("button", name="cyan").click()
    page.get_by_role("button", name="cyan").click()
    page.get_by_role("button", name="pink").click()
    page.locator("#send-set").click()
    expect(page.locator("#status")).to_contain_text(f"Labeled {item} as “green, pink”")
    assert stored(server.url, pid)[item] == ["green", "pink"]
    page.locator("#none-apply").click()
    expect(page.locator("#status")).to_contain_text("none apply")


def test_the_suggested_set_starts_toggled_on(page: Page, server: ServerProcess) -> None:
    pid, truth = campaign(server.url, suggest=True)
    with Client(server.url) as client:
        deadline = time.monotonic() + 60
        labeled = 0
        while labeled < 15 and time.monotonic() < deadline:  # a few batches through the API: a model then ranks
            served = client.next(pid, "api", 5, wait=10)
            if served["items"]:
                client.label(pid, [{"item_id": it["id"], "label": truth[it["id"]]} for it in served["items"]])
                labeled += len(served["items"])
        while client.project(pid)["model_version"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    shown_item(page)
    expect(page.locator("#suggestion")).to_be_visible()
    expect(page.locator("#suggestion")).to_contain_text("toggled on below")
    suggested = page.evaluate("page.item.suggestion.label")
    pressed = [toggles(page).nth(i).get_attribute("data-label") for i in range(len(LABELS))
               if toggles(page).nth(i).get_attribute("aria-pressed") == "true"]
    assert pressed == suggested


def test_the_dashboard_charts_micro_f1_and_counts_each_label_of_a_set(page: Page, server: ServerProcess) -> None:
    pid, truth = campaign(server.url)
    given: dict[str, list[str]] = {}
    with Client(server.url) as client:
        deadline = time.monotonic() + 60
        while len(given) < 15 and time.monotonic() < deadline:
            served = client.next(pid, "api", 5, wait=10)
            if served["items"]:
                client.label(pid, [{"item_id": it["id"], "label": truth[it["id"]]} for it in served["items"]])
                given.update({it["id"]: truth[it["id"]] for it in served["items"]})
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#stat-metric-name")).to_have_text("micro_f1")
    expect(page.locator("#curve polyline[data-series='micro F1']")).to_have_count(1, timeout=30_000)
    for label in LABELS:
        n = sum(label in labels for labels in given.values())
        if n:
            expect(page.locator(f".bar-row[data-label={label}] .count")).to_contain_text(f"{n} (")
