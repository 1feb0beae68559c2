"""The dataset card: GET /projects/{id}/card (Markdown and JSON), and the card inside a zip export."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from fastapi.testclient import TestClient

from helpers import make_campaign, wait_for, wait_for_ranking


def _label(client: TestClient, pid: int, y: np.ndarray, annotator: str, n: int, wrong: bool = False) -> int:
    """Label the next ``n`` items served to ``annotator`` (with the truth, or always '0' when ``wrong``)."""
    items = client.post(f"/projects/{pid}/next", json={"annotator": annotator, "n": n}).json()["items"]
    labels = [{"item_id": it["id"], "label": "0" if wrong else str(y[int(it["id"][1:])]), "annotator": annotator}
              for it in items]
    assert client.post(f"/projects/{pid}/labels", json={"labels": labels}).json()["accepted"] == len(labels)
    return len(labels)


def test_card_reports_provenance_balance_and_limitations(client: TestClient, digits: tuple) -> None:
    X, y = digits
    pid = make_campaign(client, digits, pool=300, evals=60, budget=120, dedup="skip")
    wait_for_ranking(client, pid)
    given = {"ann": 0, "bob": 0}
    while given["ann"] + given["bob"] < 80:
        for who in given:
            given[who] += _label(client, pid, y, who, 10)
    wait_for(client, pid, lambda s: s["model_version"] is not None and s["metrics"] is not None)

    card = client.get(f"/projects/{pid}/card", params={"format": "json"}).json()
    assert card["counts"] == {"pool": 300, "labeled": 80, "unlabeled": 220, "eval": 60}
    annotators = {a["annotator"]: a["labels"] for a in card["provenance"]["annotators"]}
    assert annotators == given
    assert sum(card["provenance"]["chosen_by"].values()) == 80
    assert card["provenance"]["first_label"] <= card["provenance"]["last_label"]
    assert card["provenance"]["models"]["versions"] >= 1
    classes = {c["label"]: c for c in card["class_balance"]["classes"]}
    assert set(classes) == {str(d) for d in range(10)}
    truth = np.bincount([int(y[int(r["item_id"][1:])]) for r in
                         map(json.loads, client.get(f"/projects/{pid}/export").text.splitlines())], minlength=10)
    assert [classes[str(d)]["labeled"] for d in range(10)] == truth.tolist()
    assert abs(sum(c["labeled_share"] for c in classes.values()) - 1) < 1e-3
    gold = np.bincount(y[300:360].astype(int), minlength=10) / 60
    assert [classes[str(d)]["eval_share"] for d in range(10)] == [round(float(g), 4) for g in gold]
    predicted = card["class_balance"]["pool_predicted_by"]
    assert predicted is not None and predicted["items"] == 220  # the newest model's predictions, labeled ones left out
    assert abs(sum(c["pool_predicted_share"] for c in classes.values()) - 1) < 1e-3
    assert card["agreement"] is None  # no overlap
    limits = " ".join(card["limitations"])
    assert "not a random sample" in limits and "labeled once" in limits and "220 pool items are unlabeled" in limits
    assert "eval split has 60 items" in limits
    quality = card["quality"]
    assert quality["duplicates"]["setting"] == "skip" and quality["duplicates"]["threshold"] is None
    assert quality["leakage"]["eval_items"] == 0 and quality["label_review"] is None
    assert "Only exact duplicate vectors were grouped" in limits and "label review check has not run" in limits

    md = client.get(f"/projects/{pid}/card")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    text = md.text
    assert text.startswith(f"# Dataset card: digits (project {pid})")
    for heading in ("## Provenance", "## Class balance", "## Agreement", "## Known limitations"):
        assert heading in text
    assert f"| ann | {given['ann']} |" in text


def test_card_with_overlap_reports_agreement(client: TestClient, digits: tuple) -> None:
    X, y = digits
    pid = make_campaign(client, digits, pool=120, evals=0, budget=60, labels_per_item=2, batch_size=5)
    wait_for_ranking(client, pid)
    for _ in range(4):  # ann answers the truth, bob always says '0': they agree only on zeros
        items = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 5}).json()["items"]
        for who, wrong in (("ann", False), ("bob", True), ("cy", False)):
            labels = [{"item_id": it["id"], "label": "0" if wrong else str(y[int(it["id"][1:])]), "annotator": who}
                      for it in items]
            client.post(f"/projects/{pid}/labels", json={"labels": labels})
    card = client.get(f"/projects/{pid}/card", params={"format": "json"}).json()
    agreement = card["agreement"]
    assert agreement["labels_per_item"] == 2 and agreement["mean_agreement"] is not None
    assert {a["annotator"] for a in card["provenance"]["annotators"]} >= {"ann", "bob"}
    assert "votes" in card["provenance"]["annotators"][0]
    assert agreement["annotators"]["ann"]["agreement"] >= agreement["annotators"]["bob"]["agreement"]
    assert "no eval split" in " ".join(card["limitations"]).lower()
    assert "agrees with final label" in client.get(f"/projects/{pid}/card").text


def test_export_zip_holds_labels_and_card(client: TestClient, digits: tuple) -> None:
    X, y = digits
    pid = make_campaign(client, digits, pool=100, evals=20)
    wait_for_ranking(client, pid)
    _label(client, pid, y, "ann", 10)
    r = client.get(f"/projects/{pid}/export", params={"format": "zip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["x-total-count"] == "10"
    with zipfile.ZipFile(io.BytesIO(r.content)) as bundle:
        assert sorted(bundle.namelist()) == ["card.json", "card.md", "labels.jsonl"]
        rows = bundle.read("labels.jsonl").decode().splitlines()
        assert len(rows) == 10 and json.loads(rows[0])["annotator"] == "ann"
        card = json.loads(bundle.read("card.json"))
        assert card["counts"]["labeled"] == 10
        assert bundle.read("card.md").decode().startswith("# Dataset card")


def test_card_bad_input(client: TestClient, digits: tuple) -> None:
    pid = make_campaign(client, digits, pool=20, evals=0)
    r = client.get(f"/projects/{pid}/card", params={"format": "pdf"})
    assert r.status_code == 422 and "md" in r.text and "json" in r.text
    assert client.get("/projects/999/card").status_code == 404
    card = client.get(f"/projects/{pid}/card", params={"format": "json"}).json()  # nothing labeled yet
    assert card["counts"]["labeled"] == 0 and card["provenance"]["annotators"] == []
    assert card["provenance"]["first_label"] is None
    assert "No model has been trained" in client.get(f"/projects/{pid}/card").text
