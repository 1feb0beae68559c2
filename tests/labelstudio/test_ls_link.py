"""The Label Studio link, without Label Studio: clear errors, no token shown, and a Label Studio
that is down makes one log line and a ``last_error``, not a traceback every step."""

from __future__ import annotations

import logging
import time

from fastapi.testclient import TestClient
from helpers import make_campaign

from alloop.labelstudio import agent as agent_module
from alloop.labelstudio.connection import save_link
from alloop.process import free_port


def test_a_link_to_an_unreachable_label_studio_is_a_422_that_says_so(client: TestClient, digits) -> None:
    pid = make_campaign(client, digits, pool=20, evals=0)
    url = f"http://127.0.0.1:{free_port()}"
    r = client.put(f"/projects/{pid}/labelstudio/link", json={"url": url, "token": "t", "ls_project": 3})
    assert r.status_code == 422 and "unreachable from alloop" in r.json()["detail"]
    bad = client.put(f"/projects/{pid}/labelstudio/link", json={"url": url, "token": "t", "ls_project": 0})
    assert bad.status_code == 422
    mode = client.put(f"/projects/{pid}/labelstudio/link", json={"url": url, "token": "t", "ls_project": 3,
                                                                 "mode": "pull"})
    assert mode.status_code == 422 and "mode" in mode.text


def test_without_a_link_the_link_calls_say_how_to_make_one(client: TestClient, digits) -> None:
    pid = make_campaign(client, digits, pool=20, evals=0)
    for method in ("get", "delete"):
        r = getattr(client, method)(f"/projects/{pid}/labelstudio/link")
        assert r.status_code == 404 and "connect" in r.json()["detail"]
    assert client.post(f"/projects/{pid}/labelstudio/sync").status_code == 404
    assert client.get("/projects/999/labelstudio/link").status_code == 404


def test_label_studio_down_is_one_line_and_a_last_error_then_a_sync_is_a_502(
    client: TestClient, digits, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(agent_module, "POLL_SECONDS", 0.05)
    pid = make_campaign(client, digits, pool=20, evals=0)
    store = client.app.state.store
    down = f"http://127.0.0.1:{free_port()}"
    with store.write() as conn:  # as a link made while Label Studio was up
        save_link(conn, pid, down, "secret-ls-token", 7, "backend")
    caplog.set_level(logging.WARNING, logger="alloop.labelstudio")
    client.app.state.labelstudio.wake()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = client.get(f"/projects/{pid}/labelstudio/link").json()
        if state["last_error"]:
            break
        time.sleep(0.05)
    assert "ConnectError" in state["last_error"] and "token" not in state
    assert "secret-ls-token" not in client.get(f"/projects/{pid}/labelstudio/link").text
    time.sleep(0.5)  # several more polls: backing off, and no new line for the same error
    lines = [r for r in caplog.records if "unreachable or refusing" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    r = client.post(f"/projects/{pid}/labelstudio/sync")
    assert r.status_code == 502 and "unreachable from alloop" in r.json()["detail"]
    assert client.delete(f"/projects/{pid}/labelstudio/link").json() == {"deleted": True}
