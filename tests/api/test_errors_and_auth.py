"""One error shape over every route, and the admin token over every route but /health."""

from __future__ import annotations

import os
import tempfile

import pytest
from fastapi.testclient import TestClient

from alloop.app import create_app
from alloop.settings import Settings
from alloop.store import Store

BODIES = {
    "/projects": {"name": "x", "labels": ["a", "b"]},
    "/projects/{project_id}": {"batch_size": 2},
    "/projects/{project_id}/items": {"items": [{"id": 1, "features": [1.0]}]},
    "/projects/{project_id}/next": {"annotator": "a", "n": 1},
    "/projects/{project_id}/labels": {"labels": [{"item_id": 1, "label": "a"}]},
    "/projects/{project_id}/tokens": {"role": "annotator", "name": "ann"},
    "/projects/{project_id}/labelstudio/link": {"url": "http://127.0.0.1:9", "token": "t", "ls_project": 1},
    "/projects/{project_id}/image-links": {"ids": ["x"]},
}


def api_routes():
    """Every (method, path) the OpenAPI schema lists, but /health."""
    app = create_app(Settings(data_dir=tempfile.mkdtemp(prefix="alloop-routes-")))
    paths = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() for m in sorted(ops) if p != "/health"]


ROUTES = api_routes()


def call(client, method, path, headers=None, body=None, project=4242):
    url = path.replace("{project_id}", str(project)).replace("{token_id}", "1")
    payload = BODIES.get(path) if body is None else body
    return client.request(method, url, json=payload if method in ("POST", "PATCH", "PUT") else None, headers=headers)


def test_the_v1_contract_is_served():
    contract = {
        ("GET", "/projects"), ("POST", "/projects"), ("GET", "/projects/{project_id}"),
        ("PATCH", "/projects/{project_id}"), ("POST", "/projects/{project_id}/items"),
        ("POST", "/projects/{project_id}/next"), ("POST", "/projects/{project_id}/labels"),
        ("GET", "/projects/{project_id}/metrics"), ("GET", "/projects/{project_id}/export"),
    }
    assert contract <= set(ROUTES)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{project_id}" in r[1]])
def test_unknown_project_is_404_with_the_error_shape(client, method, path):
    r = call(client, method, path)
    assert r.status_code == 404
    assert r.json() == {"detail": "project 4242 not found"}


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] in ("POST", "PATCH")])
def test_malformed_json_is_422_with_a_string_detail(client, method, path):
    url = path.replace("{project_id}", "1").replace("{token_id}", "1")
    client.post("/projects", json={"name": "x", "labels": ["a", "b"]})
    r = client.request(method, url, content=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str)


def test_body_over_the_limit_is_413(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, max_body_bytes=1000, worker="thread"))) as small:
        r = small.post("/projects", content=b"x" * 2000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit of 1000 bytes" in r.json()["detail"]


SERVER_ADMIN = {"Authorization": "Bearer s3cret"}
SERVER_ONLY = {("POST", "/projects"), ("GET", "/metrics/prometheus")}
ANY_TOKEN = {("GET", "/projects")}
LABELING = {("POST", "/projects/{project_id}/next"), ("POST", "/projects/{project_id}/labels"),
            ("GET", "/projects/{project_id}/labeling"), ("GET", "/projects/{project_id}/items/{item_id}/image")}


@pytest.fixture
def guarded(tmp_path):
    """An auth-on server with projects 1 and 2 and a token of each role."""
    with TestClient(create_app(Settings(data_dir=tmp_path, admin_token="s3cret", worker="thread"))) as c:
        for name in ("one", "two"):
            c.post("/projects", json={"name": name, "labels": ["a", "b"]}, headers=SERVER_ADMIN)
        c.post("/projects/1/items", json={"items": [{"id": 1, "features": [1.0]}]}, headers=SERVER_ADMIN)
        made = {
            who: c.post(f"/projects/{pid}/tokens", json={"role": role, "name": who}, headers=SERVER_ADMIN).json()
            for who, pid, role in (("admin1", 1, "admin"), ("alice", 1, "annotator"), ("admin2", 2, "admin"))
        }
        c.tokens = {who: {"Authorization": f"Bearer {t['token']}"} for who, t in made.items()}
        yield c


def expected(method, path, who):
    """The status family each caller type should get on project 1."""
    if who in ("none", "wrong"):
        return 401
    if who == "server":
        return "ok"
    if (method, path) in ANY_TOKEN:
        return "ok"
    if (method, path) in SERVER_ONLY or who == "admin2":
        return 403
    if who == "alice" and (method, path) not in LABELING:
        return 403
    return "ok"


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("who", ["none", "wrong", "admin2", "alice", "admin1", "server"])
def test_every_route_over_every_caller_type(guarded, method, path, who):
    headers = {"none": {}, "wrong": {"Authorization": "Bearer nope"}, "server": SERVER_ADMIN}.get(who)
    headers = guarded.tokens[who] if headers is None else headers
    r = call(guarded, method, path, headers=headers, project=1)
    want = expected(method, path, who)
    if want == "ok":
        assert r.status_code not in (401, 403), r.text
    else:
        assert r.status_code == want, r.text
        assert set(r.json()) == {"detail"}


def test_health_needs_no_token(guarded):
    assert guarded.get("/health").json()["status"] == "ok"


def test_annotator_identity_comes_from_the_token(guarded):
    alice = guarded.tokens["alice"]
    item = guarded.post("/projects/1/next", json={"annotator": "mallory", "n": 1}, headers=alice).json()["items"][0]
    guarded.post("/projects/1/labels", json={"labels": [{"item_id": item["id"], "label": "a", "annotator": "mallory"}]},
                 headers=alice)
    row = guarded.get("/projects/1/export", headers=SERVER_ADMIN).text
    assert '"annotator": "alice"' in row and "mallory" not in row


def test_tokens_are_stored_as_hashes_and_revocable(guarded, tmp_path):
    secret = guarded.tokens["alice"]["Authorization"].split()[1]
    if os.environ.get("ALLOOP_STORE"):  # PostgreSQL: every value of every token row
        store = Store(tmp_path)
        with store.read() as conn:
            db = repr([tuple(row) for row in conn.execute("SELECT * FROM tokens")]).encode()
        store.close()
    else:  # the SQLite file and its WAL, byte for byte
        db = (tmp_path / "alloop.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("alloop.db-*"))
    assert db and secret.encode() not in db
    listed = guarded.get("/projects/1/tokens", headers=SERVER_ADMIN).json()["tokens"]
    assert {t["name"] for t in listed} == {"admin1", "alice"} and all("token" not in t for t in listed)
    alice_id = next(t["id"] for t in listed if t["name"] == "alice")
    assert guarded.delete(f"/projects/1/tokens/{alice_id}", headers=guarded.tokens["admin1"]).status_code == 204
    r = guarded.post("/projects/1/next", json={"n": 1}, headers=guarded.tokens["alice"])
    assert r.status_code == 401


def test_a_project_admin_lists_only_its_project(guarded):
    assert [p["name"] for p in guarded.get("/projects", headers=guarded.tokens["admin1"]).json()["projects"]] == ["one"]
    assert len(guarded.get("/projects", headers=SERVER_ADMIN).json()["projects"]) == 2
