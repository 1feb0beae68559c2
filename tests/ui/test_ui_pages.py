"""The built-in labeling page and dashboard in headless Chromium, against a real server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import make_blobs

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

LABELS = ["cat", "dog", "bird"]
PNG = b"\x89PNG\r\n\x1a\n"


def campaign(url: str, *, token: str | None = None, budget: int = 40, retrain_every: int = 5,
             spread: float = 1.0, **config: Any) -> tuple[int, dict]:
    """A small vector campaign whose items carry display text in ``meta``; answers (id, gold labels)."""
    X, y = make_blobs(n_samples=100, centers=3, n_features=4, random_state=1, cluster_std=spread)
    with Client(url, token=token) as client:
        pid = client.create_project(name="pets", labels=LABELS, dedup="off", batch_size=5, retrain_every=retrain_every,
                                    budget=budget, stabilize=None, **config)["id"]
        client.add_items(pid, [{"id": f"p{i}", "features": X[i].tolist(),
                                "meta": {"text": f"photo number {i}", "source": "camera"}} for i in range(80)])
        client.add_items(pid, [{"id": f"e{i}", "features": X[i].tolist(), "label": LABELS[y[i]]}
                               for i in range(80, 100)], "eval")
    return pid, {f"p{i}": LABELS[y[i]] for i in range(80)}


def shown_item(page: Page) -> str:
    expect(page.locator("#item")).to_be_visible()
    return page.locator("#item-id").inner_text().split()[1]


def stored(url: str, pid: int, token: str | None = None) -> dict[str, dict[str, Any]]:
    with Client(url, token=token) as client:
        return {row["item_id"]: row for row in client.export(pid)}


def screenshot(page: Page, path: Path) -> bytes:
    data = page.screenshot(path=str(path), full_page=True)
    assert data.startswith(PNG) and len(data) > 5_000, "a blank or broken screenshot"
    return data


def test_a_label_click_reaches_the_store(page: Page, server: ServerProcess, tmp_path: Path) -> None:
    pid, _ = campaign(server.url)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    page.locator("#annotator-form input").fill("alice")
    page.locator("#annotator-form input").press("Enter")
    first = shown_item(page)
    expect(page.locator("#item-text")).to_have_text(f"photo number {first[1:]}")
    expect(page.locator("#item-meta")).to_contain_text("camera")
    before = screenshot(page, tmp_path / "label-before.png")

    page.get_by_role("button", name="dog").click()
    expect(page.locator("#status")).to_contain_text(f"Labeled {first} as “dog”")
    after = screenshot(page, tmp_path / "label-after.png")
    assert after != before
    row = stored(server.url, pid)[first]
    assert (row["label"], row["annotator"]) == ("dog", "alice")
    assert shown_item(page) != first, "the next item appears"


def test_keyboard_shortcuts_label_and_the_page_ends_with_the_campaign(page: Page, server: ServerProcess) -> None:
    pid, _ = campaign(server.url, budget=3)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    expect(page.locator("#labels button")).to_have_count(3)
    expect(page.locator("#labels kbd")).to_have_text(["1", "2", "3"])
    seen = []
    for key in ("1", "3", "2"):
        seen.append(shown_item(page))
        page.keyboard.press(key)
        expect(page.locator("#status")).to_contain_text(f"Labeled {seen[-1]} as")
    expect(page.locator("#finished")).to_be_visible()
    expect(page.locator("#finished-text")).to_contain_text("budget_exhausted")
    rows = stored(server.url, pid)
    assert [rows[i]["label"] for i in seen] == ["cat", "bird", "dog"]
    assert len(set(seen)) == 3


def test_the_page_asks_for_a_token_and_an_annotator_token_labels_as_its_name(
    page: Page, secured_server: ServerProcess
) -> None:
    url, admin = secured_server.url, "ui-admin-token"
    pid, _ = campaign(url, token=admin)
    with Client(url, token=admin) as client:
        token = client.request("POST", f"/projects/{pid}/tokens", json={"role": "annotator", "name": "bob"}).json()
    page.goto(f"{url}/ui/projects/{pid}/label")
    expect(page.locator("#error")).to_contain_text("401")
    page.locator("#token-form input").fill(token["token"])
    page.locator("#token-form button").click()
    item = shown_item(page)
    page.get_by_role("button", name="bird").click()
    expect(page.locator("#status")).to_contain_text(f"Labeled {item} as")
    row = stored(url, pid, token=admin)[item]
    assert (row["label"], row["annotator"]) == ("bird", "bob")


def test_dashboard_and_index_show_a_budget_in_cost(page: Page, server: ServerProcess) -> None:
    pid, gold = campaign(server.url, budget=20, budget_unit="cost")  # items without a cost count 1
    with Client(server.url) as client:
        batch = client.next(pid, "oracle", n=5)["items"]
        client.label(pid, [{"item_id": it["id"], "label": gold[it["id"]], "annotator": "oracle"} for it in batch])
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#stat-budget")).to_have_text("5 / 20 cost")
    expect(page.locator("#stat-left")).to_have_text("15")
    page.goto(f"{server.url}/ui/")
    expect(page.locator("#projects")).to_contain_text("5 / 20 cost")


def test_dashboard_shows_budget_state_curve_and_class_balance(
    page: Page, server: ServerProcess, tmp_path: Path
) -> None:
    pid, gold = campaign(server.url, budget=20, retrain_every=5)
    with Client(server.url) as client:
        for _ in range(2):
            batch = client.next(pid, "oracle", n=5)["items"]
            client.label(pid, [{"item_id": it["id"], "label": gold[it["id"]], "annotator": "oracle"} for it in batch])
        status = client.project(pid)
        has_forecast = client.http.get(f"/projects/{pid}/forecast").status_code == 200
        counts = {label: sum(1 for r in client.export(pid) if r["label"] == label) for label in LABELS}
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#stat-budget")).to_have_text(f"{status['labeled']} / 20")
    expect(page.locator("#stat-state")).to_have_text("running")
    expect(page.locator("#stat-left")).to_have_text("10")
    expect(page.locator("#curve polyline[data-series=accuracy]")).to_have_count(1, timeout=20_000)
    expect(page.locator("#curve circle")).not_to_have_count(0)
    for label, n in counts.items():
        expect(page.locator(f".bar-row[data-label={label}] .count")).to_contain_text(f"{n} (")
    # The forecast shows only where the server has GET /projects/{id}/forecast.
    forecast = expect(page.locator("#forecast-card"))
    forecast.to_be_visible() if has_forecast else forecast.to_be_hidden()
    screenshot(page, tmp_path / "dashboard.png")
    points = (page.locator("#curve polyline[data-series=accuracy]").get_attribute("points") or "").split()
    assert points and all(np.isfinite([float(v) for p in points for v in p.split(",")]))


def test_dashboard_shows_the_forecast_when_the_server_has_one(page: Page, server: ServerProcess) -> None:
    pid, gold = campaign(server.url, budget=60, retrain_every=4, spread=6.0,
                         target={"metric": "accuracy", "value": 0.999})
    with Client(server.url) as client:
        if client.http.get(f"/projects/{pid}/forecast").status_code == 404:
            pytest.skip("this server has no GET /projects/{id}/forecast")
        for round_ in range(1, 5):  # one model version per 4 labels: the fit needs 4 points
            batch = client.next(pid, "oracle", n=4)["items"]
            client.label(pid, [{"item_id": it["id"], "label": gold[it["id"]], "annotator": "oracle"} for it in batch])
            deadline = time.monotonic() + 20
            while len(client.metrics(pid)) < round_ and time.monotonic() < deadline:
                time.sleep(0.05)
        forecast = client.request("GET", f"/projects/{pid}/forecast").json()
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#forecast-card")).to_be_visible()
    expect(page.locator("#forecast")).to_contain_text("labels needed")
    if forecast.get("model"):
        expect(page.locator("#curve polyline[data-series='forecast accuracy']")).to_have_count(1)


def test_dashboard_shows_duplicate_groups_skipped_items_and_leakage(page: Page, server: ServerProcess) -> None:
    with Client(server.url) as client:
        pid = client.create_project(name="dups", labels=LABELS, batch_size=5, budget=20, stabilize=None)["id"]
        vectors = np.eye(6)
        client.add_items(pid, [{"id": f"p{i}", "features": vectors[i % 3].tolist()} for i in range(6)]
                         + [{"id": "q", "features": vectors[4].tolist()}])
        client.add_items(pid, [{"id": "e", "features": vectors[4].tolist(), "label": LABELS[0]},
                               {"id": "f", "features": vectors[5].tolist(), "label": LABELS[1]}], "eval")
        client.label(pid, [{"item_id": "p0", "label": LABELS[0], "annotator": "oracle"}])
    page.goto(f"{server.url}/ui/projects/{pid}/dashboard")
    expect(page.locator("#stat-dups")).to_have_text("3 · 1")  # groups {p0, p3} {p1, p4} {p2, p5}; p3 skipped
    expect(page.locator("#stat-leak")).to_have_text("1")
