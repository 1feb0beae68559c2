"""The review queue: /next's review share, never to the labeler, confirm and replace with provenance, budget."""

from __future__ import annotations

import pytest

from alloop import campaign
from alloop.quality.annotators import annotator_quality
from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ProjectPatch
from alloop.store.items import import_items
from alloop.store.labels import iter_export, submit_labels
from alloop.store.projects import get_project
from alloop.store.reviews import record_check, review_slots, review_summary
from alloop.store.serving import claim_next

NOW = 1_000_000.0
LEASE = 60


def make(store, settings, *, share=0.3, pool=40, labeled=10, budget=None, k=1, annotator="a"):
    """A project whose first ``labeled`` items (ids 0..) carry label 'x' from ``annotator``, all suspected."""
    project = campaign.create_project(store, settings, ProjectCreate(
        name="r", labels=["x", "y", "z"], budget=budget, lease_seconds=LEASE, batch_size=10, stabilize=None,
        max_stale_labels=None, review={"share": share}, labels_per_item=k,
    ))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i)]) for i in range(pool)])
    voters = [annotator] if k == 1 else [f"{annotator}{v}" for v in range(k)]
    submit_labels(store, project.id, [LabelIn(item_id=i, label="x", annotator=who)
                                      for i in range(labeled) for who in voters], NOW)
    suspect(store, project.id, range(labeled))
    return project.id


def suspect(store, pid, ids):
    """Record a check that suspects these items (ids), best first."""
    with store.write() as conn:
        idx = {int(r[1]): r[0] for r in conn.execute("SELECT idx, ext_id FROM items WHERE project_id = ?", (pid,))}
        record_check(conn, pid, {"suspects": [(idx[i], 0.9 - 0.01 * n) for n, i in enumerate(ids)],
                                 "created_at": NOW, "model_version": 1, "n_labels": 10, "checked": 10,
                                 "method": "cleanlab", "seconds": 0.1, "replaced_seen": 0})


def ids(claim, strategy=None):
    return [item["id"] for item in claim["items"] if strategy is None or item["strategy"] == strategy]


def status(store, pid):
    with store.read() as conn:
        return review_summary(conn, get_project(conn, pid), NOW + 1)["review_queue"]


@pytest.mark.parametrize(("share", "n", "slots"), [(0.3, 10, 3), (0.1, 10, 1), (0.15, 20, 3), (0.1, 4, 0),
                                                    (0.5, 1, 1), (0.25, 2, 1)])
def test_the_share_of_a_batch_is_rounded(store, settings, share, n, slots):
    pid = make(store, settings, share=share, labeled=2)
    with store.read() as conn:
        assert review_slots(get_project(conn, pid), n) == slots


def test_next_fills_its_share_with_suspects_best_first(store, settings):
    pid = make(store, settings, share=0.3)
    claim = claim_next(store, pid, "b", 10, NOW)
    assert ids(claim, "review") == ["0", "1", "2"]
    fresh = [i for i in ids(claim) if i not in ids(claim, "review")]
    assert len(fresh) == 7 and not set(fresh) & {str(i) for i in range(10)}  # the rest: unlabeled pool items
    assert all(item["score"] == pytest.approx(0.9 - 0.01 * n) for n, item in enumerate(claim["items"][:3]))
    assert status(store, pid)["in_review"] == 3
    again = claim_next(store, pid, "b", 10, NOW + 1)  # a re-poll gets the same reviews and pool items back
    assert ids(again) == ids(claim)
    other = claim_next(store, pid, "c", 10, NOW + 1)
    assert ids(other, "review") == ["3", "4", "5"]


def test_a_label_is_never_sent_for_review_to_its_annotator(store, settings):
    pid = make(store, settings, share=0.5)
    assert ids(claim_next(store, pid, "a", 10, NOW), "review") == []
    only = claim_next(store, pid, "a", 10, NOW, only="review")
    assert (only["items"], only["waiting"]) == ([], "no_reviews")


def test_with_overlap_no_voter_reviews_the_item(store, settings):
    pid = make(store, settings, share=0.5, k=3)
    assert ids(claim_next(store, pid, "a1", 10, NOW, only="review")) == []
    assert ids(claim_next(store, pid, "z", 4, NOW, only="review")) == ["0", "1", "2", "3"]


def test_only_review_serves_review_items_alone(store, settings):
    pid = make(store, settings)
    claim = claim_next(store, pid, "b", 4, NOW, only="review")
    assert ids(claim) == ids(claim, "review") == ["0", "1", "2", "3"]
    assert claim_next(store, pid, "c", 20, NOW, only="review")["items"][0]["id"] == "4"


def test_an_expired_review_lease_goes_to_the_next_reviewer(store, settings):
    pid = make(store, settings, labeled=2)
    assert ids(claim_next(store, pid, "b", 2, NOW, only="review")) == ["0", "1"]
    assert ids(claim_next(store, pid, "c", 2, NOW + 1, only="review")) == []
    assert ids(claim_next(store, pid, "c", 2, NOW + LEASE + 1, only="review")) == ["0", "1"]


def test_an_agreeing_review_confirms_and_the_item_leaves_the_queue(store, settings):
    pid = make(store, settings)
    claim_next(store, pid, "b", 10, NOW)
    answer = submit_labels(store, pid, [LabelIn(item_id=0, label="x", annotator="b")], NOW + 1)
    assert answer["accepted"] == 1 and answer["duplicates"] == 0
    assert answer["reviews"] == {"confirmed": 1, "replaced": 0}
    s = status(store, pid)
    assert (s["suspects"], s["reviews"], s["confirmed"], s["replaced"]) == (9, 1, 1, 0)
    with store.read() as conn:
        row = next(r for r in iter_export(conn, pid) if r["item_id"] == "0")
    assert (row["label"], row["annotator"]) == ("x", "a")
    assert row["reviews"][0]["outcome"] == "confirmed" and row["reviews"][0]["reviewer"] == "b"
    suspect(store, pid, range(10))  # a later check suspects it again: it stays out
    assert status(store, pid)["suspects"] == 9
    assert submit_labels(store, pid, [LabelIn(item_id=0, label="y", annotator="c")], NOW + 2)["duplicates"] == 1


def test_a_disagreeing_review_replaces_the_label_and_keeps_the_old_one(store, settings):
    pid = make(store, settings)
    claim_next(store, pid, "b", 10, NOW)
    answer = submit_labels(store, pid, [LabelIn(item_id=1, label="z", annotator="b")], NOW + 5)
    assert answer["reviews"] == {"confirmed": 0, "replaced": 1}
    with store.read() as conn:
        row = next(r for r in iter_export(conn, pid) if r["item_id"] == "1")
        final = conn.execute("SELECT COUNT(*) FROM labels WHERE project_id = ?", (pid,)).fetchone()[0]
    assert (row["label"], row["annotator"]) == ("z", "b")
    review = row["reviews"][0]
    assert (review["outcome"], review["label"], review["reviewed_at"]) == ("replaced", "z", NOW + 5)
    assert review["previous"] == {"label": "x", "annotator": "a", "labeled_at": NOW}
    assert final == 10  # one final label per item still: the review replaced it, it added no item


def test_a_second_answer_in_the_same_batch_is_a_duplicate(store, settings):
    pid = make(store, settings)
    answer = submit_labels(store, pid, [LabelIn(item_id=3, label="y", annotator="b"),
                                        LabelIn(item_id=3, label="z", annotator="c")], NOW + 1)
    assert (answer["accepted"], answer["duplicates"], answer["reviews"]) == (1, 1, {"confirmed": 0, "replaced": 1})
    with store.read() as conn:
        assert next(r for r in iter_export(conn, pid) if r["item_id"] == "3")["label"] == "y"


def test_the_labeler_answering_again_is_a_duplicate_not_a_review(store, settings):
    pid = make(store, settings)
    answer = submit_labels(store, pid, [LabelIn(item_id=2, label="y", annotator="a")], NOW + 1)
    assert (answer["accepted"], answer["duplicates"]) == (0, 1) and "reviews" not in answer
    assert status(store, pid)["reviews"] == 0


def test_a_review_held_by_another_reviewer_is_theirs(store, settings):
    pid = make(store, settings)
    claim_next(store, pid, "b", 10, NOW, only="review")
    answer = submit_labels(store, pid, [LabelIn(item_id=0, label="y", annotator="c")], NOW + 1)
    assert answer["duplicates"] == 1 and status(store, pid)["reviews"] == 0


def test_reviews_spend_the_budget(store, settings):
    pid = make(store, settings, labeled=10, budget=12)
    claim = claim_next(store, pid, "b", 10, NOW)
    assert len(ids(claim, "review")) == 2  # 10 spent, 2 left: nothing else fits beside them
    assert len(ids(claim)) == 2
    submit_labels(store, pid, [LabelIn(item_id=int(i), label="x", annotator="b") for i in ids(claim)], NOW + 1)
    with store.read() as conn:
        project = get_project(conn, pid)
        assert (project.state, project.stop_reason) == ("done", "budget_exhausted")
        assert campaign.spent(conn, project) == 12
    assert status(store, pid)["spent"] == 2 and status(store, pid)["counts_against_budget"] is True


def test_annotator_quality_counts_agreement_with_final_labels_and_reviews(store, settings):
    pid = make(store, settings)
    claim_next(store, pid, "b", 10, NOW)
    submit_labels(store, pid, [LabelIn(item_id=i, label=label, annotator="b")
                               for i, label in [(0, "x"), (1, "y"), (2, "z")]], NOW + 1)
    with store.read() as conn:
        rows = {r["annotator"]: r for r in annotator_quality(conn, get_project(conn, pid))}
    assert rows["a"] == {"annotator": "a", "answers": 10, "agreement": 0.8, "reviewed": 3,
                         "review_agreement": round(1 / 3, 4), "reviews_given": 0}
    assert (rows["b"]["answers"], rows["b"]["reviews_given"]) == (0, 3)


def test_annotator_quality_with_overlap_reads_the_votes(store, settings):
    pid = make(store, settings, k=3, labeled=4)
    submit_labels(store, pid, [LabelIn(item_id=i, label=label, annotator=who) for i, who, label in
                               [(5, "a0", "x"), (5, "a1", "y"), (5, "a2", "y")]], NOW)
    claim_next(store, pid, "r", 1, NOW, only="review")
    submit_labels(store, pid, [LabelIn(item_id=0, label="z", annotator="r")], NOW + 1)
    with store.read() as conn:
        rows = {r["annotator"]: r for r in annotator_quality(conn, get_project(conn, pid))}
    # a0: items 0-3 'x' (item 0 now 'z' by review) and item 5 'x' (majority 'y')
    assert (rows["a0"]["answers"], rows["a0"]["agreement"]) == (5, 0.6)
    assert (rows["a1"]["agreement"], rows["a1"]["reviewed"], rows["a1"]["review_agreement"]) == (0.8, 1, 0.0)
    assert rows["r"]["reviews_given"] == 1


def test_patching_review_off_empties_nothing_but_stops_serving(store, settings):
    pid = make(store, settings)
    campaign.patch_project(store, pid, ProjectPatch(review=None))
    assert ids(claim_next(store, pid, "b", 10, NOW), "review") == []
    assert status(store, pid)["enabled"] is False
    campaign.patch_project(store, pid, ProjectPatch(review={"share": 0.2}))
    with store.read() as conn:
        assert get_project(conn, pid).review == {"share": 0.2, "folds": 5, "max_labels": 5000, "every": None,
                                                 "min_labels": 100}
    assert len(ids(claim_next(store, pid, "b", 10, NOW), "review")) == 2
