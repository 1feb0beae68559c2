"""The labeling page of a spans project in headless Chromium: select by mouse drag, type by key, remove, Enter sends."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from alloop.client import Client
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]
TEXT = "Bill Gates met Ada in Paris at number {}"

EDGES = """([start, end]) => {
  const box = document.getElementById("item-text");
  const rect = (at) => {  // the box of character ``at`` of the text
    const walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    let node, seen = 0;
    while ((node = walk.nextNode())) {
      if (at < seen + node.textContent.length) {
        const range = document.createRange();
        range.setStart(node, at - seen);
        range.setEnd(node, at - seen + 1);
        return range.getBoundingClientRect();
      }
      seen += node.textContent.length;
    }
  };
  const first = rect(start), last = rect(end - 1);
  return [first.left + 1, first.top + first.height / 2, last.right - 1, last.top + last.height / 2];
}"""


def select(page: Page, start: int, end: int) -> None:
    """Drag the mouse over characters ``start:end`` of the shown text (a real selection in Chromium)."""
    x1, y1, x2, y2 = page.evaluate(EDGES, [start, end])
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=8)
    page.mouse.up()


def spans_campaign(url: str) -> int:
    with Client(url) as client:
        pid = client.create_project(name="ner", labels=TYPES, task="spans", input="text", batch_size=1,
                                    retrain_every=50, budget=10, stabilize=None, dedup="off",
                                    encoder={"name": "hashing", "params": {"dim": 32}})["id"]
        client.add_items(pid, [{"id": f"t{i}", "text": TEXT.format(i)} for i in range(5)])
    return pid


def exported(url: str, pid: int) -> dict[str, Any]:
    with Client(url) as client:
        return {row["item_id"]: row["label"] for row in client.export(pid)}


def test_spans_are_selected_typed_by_key_removed_and_sent_with_enter(page: Page, server: ServerProcess) -> None:
    pid = spans_campaign(server.url)
    page.goto(f"{server.url}/ui/projects/{pid}/label")
    expect(page.locator("#item")).to_be_visible()
    expect(page.locator("#labels button")).to_have_count(len(TYPES))
    expect(page.locator("#labels button", has_text="location")).to_contain_text("l")  # its unique first letter
    first = page.locator("#item-id").inner_text().split()[1]
    select(page, 0, 11)  # "Bill Gates " with its trailing space: the page leaves the space out
    expect(page.locator("#status")).to_contain_text("Selected “Bill Gates”")
    page.keyboard.press("5")  # person, by number
    select(page, 22, 27)
    page.keyboard.press("l")  # location, by first letter
    select(page, 15, 18)
    page.keyboard.press("5")
    expect(page.locator("mark.span")).to_have_count(3)
    page.locator("mark.span", has_text="Ada").click()  # removed again
    expect(page.locator("mark.span")).to_have_count(2)
    expect(page.locator("mark.span").first).to_have_attribute("data-label", "person")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text(f"Sent {first} with 2 span(s)")
    second = page.locator("#item-id").inner_text().split()[1]
    assert second != first
    page.keyboard.press("Enter")  # no span: "no entity"
    expect(page.locator("#status")).to_contain_text(f"Sent {second} with 0 span(s)")
    labels = exported(server.url, pid)
    assert labels[first] == [{"start": 0, "end": 10, "label": "person"}, {"start": 22, "end": 27, "label": "location"}]
    assert labels[second] == []
