"""Task types (schema v16): what an answer is, checked before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import database_at, items_body, old_project, project_body

from alloop.store import Store
from alloop.store.schema import SCHEMA_VERSION
from alloop.tasks import canonical_label


def test_a_project_is_a_classification_project_unless_it_says_otherwise(client):
    project = client.post("/projects", json=project_body()).json()
    assert project["task"] == "classification"


def test_spans_need_text_input(client):
    response = client.post("/projects", json=project_body(task="spans"))
    assert response.status_code == 422
    assert "needs input 'text'" in response.text


def test_an_unknown_task_is_422_naming_the_accepted_ones(client):
    response = client.post("/projects", json=project_body(task="regression"))
    assert response.status_code == 422
    assert "classification" in response.text and "multilabel" in response.text


@pytest.mark.parametrize("answer", [["a"], [{"start": 0, "end": 1, "label": "a"}], []])
def test_a_structured_answer_to_a_classification_project_is_422_and_writes_nothing(client, answer):
    pid = client.post("/projects", json=project_body()).json()["id"]
    client.post(f"/projects/{pid}/items", json=items_body(np.eye(3), range(3)))
    response = client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": "d0", "label": "0"}, {"item_id": "d1", "label": answer}]})
    assert response.status_code == 422
    assert "labels.1" in response.text and "classification" in response.text
    assert client.get(f"/projects/{pid}").json()["labeled"] == 0


def test_an_eval_item_with_a_structured_gold_on_a_classification_project_is_422(client):
    pid = client.post("/projects", json=project_body()).json()["id"]
    body = items_body(np.eye(2), range(2), np.array([0, 1]), split="eval")
    body["items"][1]["label"] = ["a"]
    response = client.post(f"/projects/{pid}/items", json=body)
    assert response.status_code == 422 and "items.1" in response.text
    assert client.get(f"/projects/{pid}").json()["eval_size"] == 0


def test_classification_answers_are_stored_as_they_are():
    assert canonical_label("classification", ["a", "b"], "b") == "b"
    with pytest.raises(ValueError, match="not one of"):
        canonical_label("classification", ["a", "b"], "c")


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_version_15_store_makes_its_projects_classification_projects(settings):
    conn = database_at(settings.data_dir, 15)
    old_project(conn)
    conn.commit()
    conn.close()
    store = Store(settings.data_dir)
    db = store.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT task FROM projects WHERE id = 1").fetchone()[0] == "classification"
    store.close()
