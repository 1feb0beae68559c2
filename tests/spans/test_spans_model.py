"""The BIO tagger on the packaged MiniLM, and a small spans campaign through the server's own loop."""

from __future__ import annotations

import numpy as np
import pytest
from spans_helpers import TYPES, ner_rows, spans_body
from helpers import wait_for

from alloop.models.tagger_config import tagger_config
from alloop.models.token_tagger import TokenTagger
from alloop.tasks.spans_metrics import entity_scores


def _fit(rows, seed=0, **params):
    model = TokenTagger(TYPES, tagger_config("token_tagger", params, seed))
    model.fit([r["text"] for r in rows], [r["spans"] for r in rows])
    return model


def _f1(model, rows):
    return entity_scores([r["spans"] for r in rows], model.predict_spans([r["text"] for r in rows]), TYPES)["entity_f1"]


def test_entity_f1_rises_with_labels_and_the_tagger_is_seeded():
    pool, test = ner_rows("pool"), ner_rows("test")
    few, many = _fit(pool[:20]), _fit(pool[:400])
    assert _f1(many, test) > _f1(few, test) + 0.05
    again = _fit(pool[:20])
    texts = [r["text"] for r in test[:50]]
    assert np.array_equal(few.unit_probs(texts).probs, again.unit_probs(texts).probs)


def test_a_saved_tagger_predicts_the_same(tmp_path):
    pool = ner_rows("pool")[:40]
    model = _fit(pool)
    model.save(tmp_path / "m")
    assert not (tmp_path / "m" / "config.json").exists()  # a frozen encoder is not copied: the head alone
    loaded = TokenTagger.load(tmp_path / "m")
    texts = [r["text"] for r in ner_rows("test")[:20]]
    assert np.allclose(model.unit_probs(texts).probs, loaded.unit_probs(texts).probs, atol=1e-6)
    assert loaded.predict_spans(texts) == model.predict_spans(texts)


def test_fine_tuning_top_layers_trains_and_predicts_valid_spans():
    pool = ner_rows("pool")[:16]
    model = _fit(pool, train_layers=1, epochs=1, min_steps=1)
    for row, spans in zip(pool, model.predict_spans([r["text"] for r in pool])):
        for s in spans:
            assert 0 <= s["start"] < s["end"] <= len(row["text"]) and s["label"] in TYPES


@pytest.mark.parametrize("strategy", ["mnlp", "token_entropy"])
def test_a_spans_campaign_serves_texts_trains_and_scores_entity_f1(client, strategy):
    pool, test = ner_rows("pool")[:150], ner_rows("test")[:150]
    body = spans_body(strategy={"name": strategy}, batch_size=30, retrain_every=30, budget=90, suggest=True)
    pid = client.post("/projects", json=body).json()["id"]
    client.post(f"/projects/{pid}/items", json={"items": [{"id": f"p{i}", "text": r["text"]} for i, r in enumerate(pool)]})
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": f"e{i}", "text": r["text"], "label": r["spans"]} for i, r in enumerate(test)]})
    for version in (1, 2, 3):
        batch = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 30, "wait": 30}).json()
        assert len(batch["items"]) == 30 and all("text" in it for it in batch["items"])
        if version > 1:  # ranked by the strategy, with the newest model's spans as suggestions
            assert {it["strategy"] for it in batch["items"]} == {strategy}
            assert {it["suggestion"]["model_version"] for it in batch["items"]} == {version - 1}
            for it in batch["items"]:
                text, spans = pool[int(it["id"][1:])]["text"], it["suggestion"]["label"]
                assert all(0 <= s["start"] < s["end"] <= len(text) for s in spans)
        answers = [{"item_id": it["id"], "label": pool[int(it["id"][1:])]["spans"], "annotator": "a"}
                   for it in batch["items"]]
        assert client.post(f"/projects/{pid}/labels", json={"labels": answers}).status_code == 200
        status = wait_for(client, pid, lambda s, v=version: s["model_version"] == v, timeout=300)
    assert status["state"] == "done" and status["stop_reason"] == "budget_exhausted"
    curve = client.get(f"/projects/{pid}/metrics").json()["curve"]
    assert [p["labels"] for p in curve] == [30, 60, 90]
    assert all(0 <= p["entity_f1"] <= 1 and "per_type" in p for p in curve)
    assert curve[-1]["entity_f1"] > curve[0]["entity_f1"]


def test_the_forecast_of_a_spans_project_fits_entity_f1(client):
    pid = client.post("/projects", json=spans_body(target={"metric": "entity_f1", "value": 0.5})).json()["id"]
    with client.app.state.store.write() as conn:  # three model versions' entity F1, as rounds record them
        for version, (n, f1) in enumerate([(20, 0.05), (40, 0.09), (60, 0.12), (80, 0.14)], start=1):
            conn.execute("INSERT INTO model_versions (project_id, version, created_at, n_labels, metrics) "
                         "VALUES (?, ?, ?, ?, ?)", (pid, version, 0.0, n, f'{{"entity_f1": {f1}}}'))
    answer = client.get(f"/projects/{pid}/forecast")
    assert answer.status_code == 200 and answer.json()["metric"] == "entity_f1"
    refused = client.get(f"/projects/{pid}/forecast?metric=accuracy")
    assert refused.status_code == 422 and "entity_f1" in refused.text


def test_a_fine_tuned_tagger_saves_its_encoder_and_loads_it_back(tmp_path):
    pool = ner_rows("pool")[:16]
    model = _fit(pool, train_layers=1, epochs=1, min_steps=2)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "config.json").is_file()
    texts = [r["text"] for r in pool]
    assert np.allclose(model.unit_probs(texts).probs, TokenTagger.load(tmp_path / "m").unit_probs(texts).probs, atol=1e-5)
