"""Span answers, BIO alignment, sequence strategies and entity scores, without a server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from spans_helpers import TYPES, ner_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from alloop.models.bio import Units, decode_tags, encode_tags, tag_names, units
from alloop.strategies.sequence import least_confidence_sequence, mnlp, rank_sequences, token_entropy
from alloop.tasks import canonical_label, decode_label
from alloop.tasks.spans_metrics import entity_scores

# -- canonical form -------------------------------------------------------------------------------


def test_the_stored_form_is_compact_json_sorted_by_start_and_decodes_back():
    answer = [{"start": 6, "end": 11, "label": "b"}, {"start": 0, "end": 5, "label": "a"}]
    stored = canonical_label("spans", ["a", "b"], answer, "hello world")
    assert stored == '[{"start":0,"end":5,"label":"a"},{"start":6,"end":11,"label":"b"}]'
    assert decode_label("spans", stored) == sorted(answer, key=lambda s: s["start"])
    assert canonical_label("spans", ["a"], [], "anything") == "[]"


def test_spans_without_the_items_text_are_refused():
    with pytest.raises(ValueError, match="needs the item's text|need the item's text"):
        canonical_label("spans", ["a"], [{"start": 0, "end": 1, "label": "a"}], None)


# -- BIO alignment ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from alloop.models import _torch

    hf = _torch.transformers()
    return hf.AutoTokenizer.from_pretrained(str(_torch.bundled_minilm()), local_files_only=True)


def _units(tokenizer, text: str) -> Units:
    encoded = tokenizer(text, return_offsets_mapping=True)
    return units(encoded["offset_mapping"], encoded.word_ids())


WORDS = st.lists(st.sampled_from(["Paris", "the", "Microsoft", "John", "##", "e-mail", "New", "York's", "42", "ok!"]),
                 min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(words=WORDS, data=st.data())
def test_spans_on_word_boundaries_survive_encoding_and_decoding(tokenizer, words, data):
    text = " ".join(words)
    unit = _units(tokenizer, text)
    # spans over runs of the tokenizer's words, never touching: what BIO can hold
    cuts = sorted(data.draw(st.sets(st.integers(0, len(unit)), max_size=6)))
    spans = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        if b > a:
            spans.append({"start": int(unit.starts[a]), "end": int(unit.ends[b - 1]),
                          "label": data.draw(st.sampled_from(TYPES))})
    spans = [s for i, s in enumerate(spans) if i == 0 or s["start"] > spans[i - 1]["end"]]
    tags = encode_tags(unit, spans, TYPES)
    assert decode_tags(tags, unit, TYPES) == spans


def test_every_ner_span_survives_the_round_trip(tokenizer):
    for row in ner_rows("test")[:150]:
        unit = _units(tokenizer, row["text"])
        assert decode_tags(encode_tags(unit, row["spans"], TYPES), unit, TYPES) == row["spans"]


def test_an_inside_tag_without_its_begin_starts_a_span():
    names = tag_names(["per", "loc"])
    assert names == ["O", "B-per", "I-per", "B-loc", "I-loc"]
    unit = Units(np.arange(5), np.array([0, 3, 6, 9, 12]), np.array([2, 5, 8, 11, 14]))
    tags = [2, 2, 4, 0, 1]  # I-per I-per I-loc O B-per
    assert decode_tags(tags, unit, ["per", "loc"]) == [
        {"start": 0, "end": 5, "label": "per"}, {"start": 6, "end": 8, "label": "loc"},
        {"start": 12, "end": 14, "label": "per"}]


# -- strategies ---------------------------------------------------------------------------------

PROBS = np.array([[0.9, 0.1], [0.6, 0.4],   # text 0: two tokens
                  [0.5, 0.5],               # text 1: one token
                  ])
OFFSETS = np.array([0, 2, 3, 3])            # text 2: no tokens
RNG = np.random.default_rng(0)


def test_least_confidence_of_the_best_sequence_is_one_minus_the_product():
    assert least_confidence_sequence(PROBS, OFFSETS, rng=RNG) == pytest.approx([1 - 0.9 * 0.6, 0.5, 0.0])


def test_mnlp_is_minus_the_mean_log_of_the_best_tags():
    assert mnlp(PROBS, OFFSETS, rng=RNG) == pytest.approx([-(np.log(0.9) + np.log(0.6)) / 2, -np.log(0.5), 0.0])


def test_token_entropy_sums_or_averages():
    h = lambda p: -sum(x * np.log(x) for x in p)  # noqa: E731
    total = h([0.9, 0.1]) + h([0.6, 0.4])
    assert token_entropy(PROBS, OFFSETS, rng=RNG, aggregate="sum") == pytest.approx([total, np.log(2), 0.0])
    assert token_entropy(PROBS, OFFSETS, rng=RNG) == pytest.approx([total / 2, np.log(2), 0.0])


def test_mnlp_undoes_least_confidences_pull_towards_long_texts():
    long_sure = np.full((30, 2), [0.95, 0.05])
    short_unsure = np.array([[0.6, 0.4]])
    probs, offsets = np.vstack([long_sure, short_unsure]), np.array([0, 30, 31])
    assert rank_sequences("least_confidence_sequence", probs, offsets, 1, rng=RNG)[0][0] == 0
    assert rank_sequences("mnlp", probs, offsets, 1, rng=RNG)[0][0] == 1


def test_random_ranks_differently_by_seed_and_the_same_for_one_seed():
    probs, offsets = np.full((40, 3), 1 / 3), np.arange(41)
    first = rank_sequences("random", probs, offsets, 10, rng=np.random.default_rng(1))[0]
    again = rank_sequences("random", probs, offsets, 10, rng=np.random.default_rng(1))[0]
    other = rank_sequences("random", probs, offsets, 10, rng=np.random.default_rng(2))[0]
    assert first.tolist() == again.tolist() != other.tolist()


# -- entity scores ------------------------------------------------------------------------------


def _bio(row: dict) -> list[str]:
    """Whitespace tokens of a NER row and their BIO tags (the set's spans fall on those tokens)."""
    tags, position = [], 0
    for token in row["text"].split(" "):
        start, end = position, position + len(token)
        tag = "O"
        for s in row["spans"]:
            if s["start"] <= start < s["end"]:
                tag = ("B-" if start == s["start"] else "I-") + s["label"]
        tags.append(tag)
        position = end + 1
    return tags


def test_entity_scores_equal_seqeval_on_the_ner_set():
    from seqeval.metrics import f1_score, precision_score, recall_score

    gold = ner_rows("test")
    rng = np.random.default_rng(3)
    predicted = []  # the gold spans, some dropped and some retyped
    for row in gold:
        spans = [s for s in row["spans"] if rng.random() > 0.3]
        predicted.append({"text": row["text"], "spans": [
            {**s, "label": TYPES[rng.integers(len(TYPES))]} if rng.random() < 0.2 else s for s in spans]})
    ours = entity_scores([r["spans"] for r in gold], [r["spans"] for r in predicted], TYPES)
    y_true, y_pred = [_bio(r) for r in gold], [_bio(r) for r in predicted]
    assert ours["entity_f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert ours["entity_precision"] == pytest.approx(precision_score(y_true, y_pred))
    assert ours["entity_recall"] == pytest.approx(recall_score(y_true, y_pred))
    assert ours["eval_entities"] == sum(len(r["spans"]) for r in gold)
    assert set(ours["per_type"]) <= set(TYPES)


def test_entity_scores_count_only_exact_matches():
    gold = [[{"start": 0, "end": 4, "label": "a"}], []]
    assert entity_scores(gold, [[{"start": 0, "end": 3, "label": "a"}], []], ["a"])["entity_f1"] == 0.0
    scores = entity_scores(gold, [[{"start": 0, "end": 4, "label": "a"}], [{"start": 0, "end": 1, "label": "a"}]], ["a"])
    assert (scores["entity_precision"], scores["entity_recall"]) == (0.5, 1.0)
    assert json.dumps(scores)  # stored with the model version as JSON


# -- Label Studio -------------------------------------------------------------------------------


def test_label_studio_span_regions_round_trip_and_compare_as_stored():
    from alloop.labelstudio.config import choices_control, label_config
    from types import SimpleNamespace

    from alloop.labelstudio.ingest import annotation_answer, stored_form
    from alloop.tasks.spans_ls import annotation_spans, span_regions

    config = label_config(["person", "location"], task="spans")
    control = choices_control(config)
    assert (control.kind, control.from_name, control.to_name, control.choices) == (
        "labels", "label", "text", ("person", "location"))
    text = "Ada went to Paris"
    spans = [{"start": 12, "end": 17, "label": "location"}, {"start": 0, "end": 3, "label": "person"}]
    annotation = {"result": span_regions("label", "text", spans, text)}
    assert annotation["result"][0]["value"]["text"] == "Paris"
    assert annotation_spans(annotation) == spans
    stored = canonical_label("spans", ["person", "location"], spans, text)
    project = SimpleNamespace(task="spans", labels=["person", "location"])
    assert stored_form(annotation_answer(annotation, project), project, text) == stored  # reconcile sees no change
    assert annotation_answer({"result": []}, project) == []
    assert annotation_answer({"result": []}, SimpleNamespace(task="classification", labels=["a"])) is None
