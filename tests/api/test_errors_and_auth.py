"""One error shape over every route, and the admin token over every route but /health."""

from __future__ import annotations

import tempfile

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings

BODIES = {
    "/projects": {"name": "x", "labels": ["a", "b"]},
    "/projects/{project_id}": {"batch_size": 2},
    "/projects/{project_id}/items": {"items": [{"id": 1, "features": [1.0]}]},
    "/projects/{project_id}/next": {"annotator": "a", "n": 1},
    "/projects/{project_id}/labels": {"labels": [{"item_id": 1, "label": "a"}]},
}


def api_routes():
    """Every (method, path) the OpenAPI schema lists, but /health."""
    app = create_app(Settings(data_dir=tempfile.mkdtemp(prefix="alloop-routes-")))
    paths = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() for m in sorted(ops) if p != "/health"]


ROUTES = api_routes()


def call(client, method, path, headers=None, body=None):
    url = path.replace("{project_id}", "4242")
    payload = BODIES.get(path) if body is None else body
    return client.request(method, url, json=payload if method in ("POST", "PATCH") else None, headers=headers)


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
    url = path.replace("{project_id}", "1")
    client.post("/projects", json={"name": "x", "labels": ["a", "b"]})
    r = client.request(method, url, content=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str)


def test_body_over_the_limit_is_413(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, max_body_bytes=1000))) as small:
        r = small.post("/projects", content=b"x" * 2000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "limit of 1000 bytes" in r.json()["detail"]


@pytest.fixture
def guarded(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path, admin_token="s3cret"))) as c:
        yield c


def test_health_needs_no_token(guarded):
    assert guarded.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}])
def test_every_route_needs_the_token(guarded, method, path, headers):
    r = call(guarded, method, path, headers=headers)
    assert r.status_code == 401
    assert "bearer token" in r.json()["detail"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_right_token_passes(guarded, method, path):
    r = call(guarded, method, path, headers={"Authorization": "Bearer s3cret"})
    assert r.status_code != 401
