"""Overlap (``labels_per_item`` k > 1): k distinct annotators per item, majority with agreement."""

from __future__ import annotations

import pytest
import sqlite_utils
from helpers import database_at

from alloop import campaign
from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ProjectPatch
from alloop.store import Store
from alloop.store.items import counts, import_items
from alloop.store.labels import iter_export, submit_labels
from alloop.store.projects import get_project
from alloop.store.schema import SCHEMA_VERSION
from alloop.store.serving import claim_next
from alloop.store.votes import change_vote, majority, vote_summary, votes_by_item, withdraw_vote

NOW = 1_000_000.0
LEASE = 60


def make(store, settings, *, k=3, pool=5, budget=None):
    project = campaign.create_project(store, settings, ProjectCreate(
        dedup="off", name="o", labels=["x", "y", "z"], budget=budget, lease_seconds=LEASE, labels_per_item=k, stabilize=None,
        max_stale_labels=None,  # serves the pool in its random order: these tests need no ranking
    ))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=[float(i)]) for i in range(pool)])
    return project.id


def ids(answer):
    return [item["id"] for item in answer["items"]]


def vote(store, pid, item, label, who, now=NOW, key=None):
    return submit_labels(store, pid, [LabelIn(item_id=item, label=label, annotator=who)], now, submission_id=key)


def test_k_distinct_annotators_get_the_item_and_the_next_one_does_not(store, settings):
    pid = make(store, settings)
    first = ids(claim_next(store, pid, "a", 1, NOW))
    assert [ids(claim_next(store, pid, who, 1, NOW)) for who in ("b", "c")] == [first, first]
    fourth = ids(claim_next(store, pid, "d", 1, NOW))
    assert fourth and fourth != first
    with store.read() as conn:
        holders = conn.execute("SELECT COUNT(*) FROM leases WHERE item_idx = "
                               "(SELECT idx FROM items WHERE ext_id = ?)", (first[0],)).fetchone()[0]
    assert holders == 3


def test_one_annotator_never_holds_an_item_twice(store, settings):
    pid = make(store, settings, pool=3)
    first = ids(claim_next(store, pid, "a", 1, NOW))
    again = ids(claim_next(store, pid, "a", 3, NOW))
    assert again[0] == first[0] and len(again) == len(set(again)) == 3  # held first, then new ones


def test_an_annotator_never_gets_an_item_it_voted_on(store, settings):
    pid = make(store, settings, pool=2)
    item = ids(claim_next(store, pid, "a", 1, NOW))[0]
    assert vote(store, pid, item, "x", "a")["accepted"] == 1
    assert item not in ids(claim_next(store, pid, "a", 5, NOW + 2 * LEASE))


def test_a_vote_keeps_its_slot_and_an_expired_lease_gives_it_back(store, settings):
    pid = make(store, settings, pool=2)
    item = ids(claim_next(store, pid, "a", 1, NOW))[0]
    for who in ("b", "c"):
        claim_next(store, pid, who, 1, NOW)
    vote(store, pid, item, "x", "a")
    assert item not in ids(claim_next(store, pid, "d", 1, NOW + 1))  # 1 vote + 2 leases = 3
    assert ids(claim_next(store, pid, "e", 1, NOW + LEASE + 1)) == [item]  # b's and c's leases lapsed


def test_the_kth_vote_decides_by_majority_with_agreement(store, settings):
    pid = make(store, settings)
    for who, label in (("a", "x"), ("b", "y")):
        answer = vote(store, pid, "0", label, who)
        assert answer == {"accepted": 1, "duplicates": 0, "rejected": [], "decided": 0}
    with store.read() as conn:
        assert counts(conn, pid, NOW)["labeled"] == 0  # votes are not labels
    assert vote(store, pid, "0", "x", "c")["decided"] == 1
    with store.read() as conn:
        row = conn.execute("SELECT label, annotator, agreement FROM labels").fetchone()
        assert tuple(row) == ("x", "majority", pytest.approx(2 / 3))
        assert counts(conn, pid, NOW)["labeled"] == 1
        assert conn.execute("SELECT COUNT(*) FROM tallies").fetchone()[0] == 0
    assert "0" not in ids(claim_next(store, pid, "d", 5, NOW))


@pytest.mark.parametrize("votes, label, agreement", [
    (["x", "x", "y"], "x", 2 / 3),
    (["y", "x", "x"], "x", 2 / 3),
    (["y", "x"], "y", 0.5),  # a tie: the label voted first wins
    (["x", "y"], "x", 0.5),
    (["z", "y", "y", "z", "x"], "z", 0.4),
    (["x", "x", "x"], "x", 1.0),
])
def test_majority_and_its_tie_rule(votes, label, agreement):
    assert majority(votes) == (label, pytest.approx(agreement))


def test_duplicates_a_second_vote_and_a_vote_on_a_decided_item(store, settings):
    pid = make(store, settings, k=2)
    vote(store, pid, "0", "x", "a")
    assert vote(store, pid, "0", "y", "a") == {"accepted": 0, "duplicates": 1, "rejected": [], "decided": 0}
    vote(store, pid, "0", "x", "b")
    assert vote(store, pid, "0", "x", "c")["duplicates"] == 1
    same_batch = submit_labels(store, pid, [LabelIn(item_id="1", label="x", annotator="a")] * 2, NOW)
    assert (same_batch["accepted"], same_batch["duplicates"]) == (1, 1)
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 3


def test_an_idempotent_replay_writes_no_second_vote(store, settings):
    pid = make(store, settings, k=2)
    first = vote(store, pid, "0", "x", "a", key="k1")
    again = vote(store, pid, "0", "x", "a", key="k1")
    assert again == {**first, "replayed": True}
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1


def test_the_budget_counts_items_not_votes(store, settings):
    pid = make(store, settings, k=2, budget=2)
    served = ids(claim_next(store, pid, "a", 5, NOW))
    assert len(served) == 2  # two items may be started
    assert ids(claim_next(store, pid, "b", 5, NOW)) == served
    assert ids(claim_next(store, pid, "c", 5, NOW)) == []
    third = next(str(i) for i in range(5) if str(i) not in served)
    for item in served:
        vote(store, pid, item, "x", "a")
    rejected = vote(store, pid, third, "x", "c")  # a new item past the budget
    assert rejected["rejected"] == [{"item_id": third, "reason": "budget_exhausted"}]
    for item in served:
        vote(store, pid, item, "y", "b")
    with store.read() as conn:
        assert counts(conn, pid, NOW)["labeled"] == 2
        assert conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 4
    project = get_project(store.conn(), pid)
    assert (project.state, project.stop_reason) == ("done", "budget_exhausted")


def test_pool_exhaustion_waits_for_the_last_vote(store, settings):
    pid = make(store, settings, k=2, pool=1)
    vote(store, pid, "0", "x", "a")
    assert get_project(store.conn(), pid).state == "running"
    vote(store, pid, "0", "x", "b")
    assert get_project(store.conn(), pid).stop_reason == "pool_exhausted"


def test_export_carries_votes_and_agreement(store, settings):
    pid = make(store, settings, k=3)
    for who, label in (("a", "y"), ("b", "x"), ("c", "y")):
        vote(store, pid, "4", label, who, now=NOW + ord(who))
    with store.read() as conn:
        rows = list(iter_export(conn, pid))
    assert len(rows) == 1
    row = rows[0]
    assert (row["item_id"], row["label"], row["annotator"]) == ("4", "y", "majority")
    assert row["agreement"] == pytest.approx(2 / 3)
    assert row["votes"] == [{"annotator": w, "label": lab, "labeled_at": NOW + ord(w)}
                            for w, lab in (("a", "y"), ("b", "x"), ("c", "y"))]


def test_without_overlap_a_label_is_its_own_vote(store, settings):
    pid = make(store, settings, k=1)
    vote(store, pid, "1", "z", "a")
    with store.read() as conn:
        (row,) = list(iter_export(conn, pid))
        summary = vote_summary(conn, get_project(conn, pid), 1, NOW)
    assert row["agreement"] is None and row["votes"] == [{"annotator": "a", "label": "z", "labeled_at": NOW}]
    assert summary == {"votes": 1, "mean_agreement": None, "partial_items": 0, "annotator_agreement": None}


def test_the_summary_reports_votes_agreement_and_open_items(store, settings):
    pid = make(store, settings, k=2)
    for item, who, label in (("0", "a", "x"), ("0", "b", "x"), ("1", "a", "x"), ("1", "b", "y"), ("2", "a", "z")):
        vote(store, pid, item, label, who)
    claim_next(store, pid, "c", 2, NOW)
    with store.read() as conn:
        summary = vote_summary(conn, get_project(conn, pid), 2, NOW)
    assert summary["votes"] == 5 and summary["partial_items"] == 1
    assert summary["mean_agreement"] == pytest.approx(0.75)
    assert summary["annotator_agreement"] == {"a": {"votes": 2, "agreement": 1.0}, "b": {"votes": 2, "agreement": 0.5}}
    assert (summary["leased"], summary["leases"]) == (2, 2)


def test_lowering_k_decides_items_that_have_enough_votes(store, settings):
    pid = make(store, settings, k=3)
    vote(store, pid, "0", "y", "a")
    vote(store, pid, "0", "x", "b")
    vote(store, pid, "1", "z", "a")
    campaign.patch_project(store, pid, ProjectPatch(labels_per_item=2))
    with store.read() as conn:
        decided = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT i.ext_id, b.label, b.agreement FROM labels b JOIN items i ON i.idx = b.item_idx")}
    assert decided == {"0": ("y", 0.5)}
    assert vote(store, pid, "1", "z", "b")["decided"] == 1  # now 2 votes decide
    campaign.patch_project(store, pid, ProjectPatch(labels_per_item=4))
    assert vote(store, pid, "2", "x", "a")["decided"] == 0


def _final(store, pid):
    with store.read() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT i.ext_id, b.label, b.agreement FROM labels b JOIN items i ON i.idx = b.item_idx "
            "WHERE b.project_id = ?", (pid,))}


def _idx(store, item):
    return store.conn().execute("SELECT idx FROM items WHERE ext_id = ?", (item,)).fetchone()[0]


def test_a_changed_vote_moves_the_majority(store, settings):
    pid = make(store, settings, k=3)
    for who, label in (("a", "x"), ("b", "y"), ("c", "x")):
        vote(store, pid, "0", label, who)
    assert _final(store, pid) == {"0": ("x", pytest.approx(2 / 3))}
    with store.write() as conn:
        assert change_vote(conn, _idx(store, "0"), "c", "y")
        assert not change_vote(conn, _idx(store, "0"), "c", "y")  # already says so
        assert not change_vote(conn, _idx(store, "0"), "nobody", "z")
    assert _final(store, pid) == {"0": ("y", pytest.approx(2 / 3))}
    vote(store, pid, "1", "x", "a")
    with store.write() as conn:  # an undecided item just keeps the new vote
        assert change_vote(conn, _idx(store, "1"), "a", "z")
    assert _final(store, pid).keys() == {"0"}
    assert [v["label"] for v in _votes_of(store, pid, "1")] == ["z"]


def _votes_of(store, pid, item):
    with store.read() as conn:
        return votes_by_item(conn, pid)[_idx(store, item)]


def test_a_withdrawn_vote_reopens_a_decided_item_for_someone_new(store, settings):
    pid = make(store, settings, k=2, pool=3, budget=1)
    vote(store, pid, "0", "x", "a")
    vote(store, pid, "0", "y", "b")
    assert _final(store, pid) == {"0": ("x", 0.5)}
    assert get_project(store.conn(), pid).stop_reason == "budget_exhausted"
    project = get_project(store.conn(), pid)
    with store.write() as conn:
        assert withdraw_vote(conn, project, _idx(store, "0"), "a")
        assert not withdraw_vote(conn, project, _idx(store, "0"), "a")
    assert _final(store, pid) == {}
    with store.read() as conn:
        assert counts(conn, pid, NOW)["labeled"] == 0
        assert vote_summary(conn, project, 0, NOW)["partial_items"] == 1
    # The reopened item still holds the budget's one unit: it is what /next serves, to a new annotator only.
    assert ids(claim_next(store, pid, "b", 5, NOW)) == []
    assert ids(claim_next(store, pid, "c", 5, NOW)) == ["0"]
    assert vote(store, pid, "0", "x", "c")["decided"] == 1
    assert _final(store, pid) == {"0": ("y", 0.5)}  # b voted before c: b's label wins the tie


def test_a_withdrawn_vote_on_an_open_item_frees_its_slot(store, settings):
    pid = make(store, settings, k=3, pool=1)
    project = get_project(store.conn(), pid)
    vote(store, pid, "0", "x", "a")
    vote(store, pid, "0", "y", "b")
    with store.write() as conn:
        withdraw_vote(conn, project, _idx(store, "0"), "b")
        assert conn.execute("SELECT votes FROM tallies").fetchone()[0] == 1
        withdraw_vote(conn, project, _idx(store, "0"), "a")
        assert conn.execute("SELECT COUNT(*) FROM tallies").fetchone()[0] == 0
    assert ids(claim_next(store, pid, "a", 1, NOW)) == ["0"]  # no vote left: a may answer again


def test_a_withdrawn_vote_after_k_was_lowered_redecides_from_the_rest(store, settings):
    pid = make(store, settings, k=3)
    for who, label in (("a", "y"), ("b", "x"), ("c", "x")):
        vote(store, pid, "0", label, who)
    campaign.patch_project(store, pid, ProjectPatch(labels_per_item=2))
    project = get_project(store.conn(), pid)
    with store.write() as conn:
        withdraw_vote(conn, project, _idx(store, "0"), "c")
    assert _final(store, pid) == {"0": ("y", 0.5)}  # two votes still decide at k = 2


@pytest.mark.sqlite_only  # the SQLite file and its migrations
def test_a_version_4_database_upgrades_in_place(settings):
    conn = database_at(settings.data_dir, 4)
    conn.execute("INSERT INTO projects (id, name, labels, input, model, strategy, state, batch_size, lease_seconds, "
                 "seed, retrain_every) VALUES (1, 'old', '[\"x\", \"y\"]', 'vector', '{}', '{}', 'running', 10, 60, 0, 10)")
    conn.executemany("INSERT INTO items (idx, project_id, ext_id, split, row, order_key) VALUES (?, 1, ?, 'pool', NULL, ?)",
                     [(1, "a", 0.1), (2, "b", 0.2)])
    conn.execute("INSERT INTO leases (item_idx, project_id, annotator, expires_at) VALUES (1, 1, 'ann', ?)", (NOW,))
    conn.execute("INSERT INTO labels (project_id, item_idx, label, annotator, created_at) VALUES (1, 2, 'x', 'ann', 0)")
    conn.commit()
    conn.close()

    store = Store(settings.data_dir)
    try:
        db = sqlite_utils.Database(store.conn())
        assert store.conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db["leases"].pks == ["item_idx", "annotator"]
        assert [tuple(r) for r in store.conn().execute("SELECT item_idx, annotator, expires_at FROM leases")] == [
            (1, "ann", NOW)]
        assert get_project(store.conn(), 1).labels_per_item == 1
        with store.read() as conn:
            (row,) = list(iter_export(conn, 1))
        assert row["agreement"] is None and row["votes"][0]["annotator"] == "ann"
        assert {"votes", "tallies"} <= set(db.table_names())
    finally:
        store.close()
