"""A spans project over the in-process app."""

from __future__ import annotations

import pytest
from spans_helpers import spans_body


@pytest.fixture
def spans_project(client) -> int:
    response = client.post("/projects", json=spans_body())
    assert response.status_code == 201, response.text
    return response.json()["id"]
