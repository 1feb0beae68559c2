"""Bounded staleness, driven synchronously: /next never serves past ``max_stale_labels``, the loop
replaces a ranking that runs out, every served item says what chose it, a one-class model never
ranks, and labels after a stop are kept and counted apart."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import store_campaign

from alloop import campaign
from alloop.errors import Invalid
from alloop.loop import Controller
from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ProjectPatch
from alloop.store.items import import_items
from alloop.store.labels import iter_export, submit_labels
from alloop.store.rounds import curve
from alloop.store.serving import claim_next


@pytest.fixture
def loop(store, settings):
    return Controller(store, settings)


def new_campaign(store, settings, digits, **overrides):
    return store_campaign(store, settings, digits, **{"budget": 300, "stabilize": None, **overrides})


def answer(store, pid, digits, claim, who="a"):
    _, y = digits
    labels = [LabelIn(item_id=item["id"], label=str(y[int(item["id"])]), annotator=who) for item in claim["items"]]
    if labels:
        submit_labels(store, pid, labels, time.time())


def test_the_default_cap_is_two_retrain_intervals_and_follows_a_patch(store, settings, digits):
    pid = new_campaign(store, settings, digits, retrain_every=15)
    assert campaign.patch_project(store, pid, ProjectPatch()).max_stale_labels == 30
    assert campaign.patch_project(store, pid, ProjectPatch(retrain_every=25)).max_stale_labels == 50
    assert campaign.patch_project(store, pid, ProjectPatch(max_stale_labels=None)).max_stale_labels is None
    with pytest.raises(Invalid, match="max_stale_labels .* must be at least retrain_every"):
        campaign.patch_project(store, pid, ProjectPatch(max_stale_labels=10))
    with pytest.raises(Invalid, match="must be at least retrain_every"):
        new_campaign(store, settings, digits, retrain_every=20, max_stale_labels=19)


def test_items_out_with_annotators_count_against_the_cap_until_the_next_ranking(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, retrain_every=10, max_stale_labels=25)
    loop.run_pending()
    sizes = [len(claim_next(store, pid, who, 10, time.time())["items"]) for who in "abcd"]
    assert sizes == [10, 10, 5, 0]  # the cold-start ranking handed out 25 items whose labels it will not see
    assert claim_next(store, pid, "d", 10, time.time())["waiting"] == "awaiting_labels"
    assert len(claim_next(store, pid, "a", 10, time.time())["items"]) == 10  # a still gets what it holds
    answer(store, pid, digits, claim_next(store, pid, "a", 10, time.time()), "a")
    answer(store, pid, digits, claim_next(store, pid, "b", 10, time.time()), "b")
    assert claim_next(store, pid, "d", 10, time.time())["waiting"] == "training"  # 20 labels: a round is due


def test_nothing_is_served_before_the_first_ranking_then_the_cold_start_chooses(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits)
    waiting = claim_next(store, pid, "a", 10, time.time())
    assert (waiting["items"], waiting["waiting"], waiting["ranking"]) == ([], "cold_start", None)
    loop.run_pending()
    claim = claim_next(store, pid, "a", 10, time.time())
    assert {item["strategy"] for item in claim["items"]} == {"cold_start:kmeans++"}
    assert claim["ranking"] == {"model_version": None, "strategy": "cold_start:kmeans++", "labels": 0,
                                "stale_labels": 0}


def test_past_the_cap_next_waits_and_one_round_takes_every_label(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, retrain_every=10, max_stale_labels=25, pool=600)
    loop.run_pending()
    sizes = []
    while True:  # label without letting the loop run: the cold-start ranking falls behind
        claim = claim_next(store, pid, f"a{len(sizes)}", 10, time.time())
        if not claim["items"]:
            break
        assert claim["ranking"]["stale_labels"] <= 25
        answer(store, pid, digits, claim, who=f"a{len(sizes)}")
        sizes.append(len(claim["items"]))
    # 0, 10, 20 labels behind: the third batch is cut to what the cap still allows
    assert sizes == [10, 10, 5] and claim["waiting"] == "training"
    assert loop.run_pending() == 1
    with store.read() as conn:
        assert [p["labels"] for p in curve(conn, pid)] == [25]  # one round on all 25, no queue of stale rounds
    claim = claim_next(store, pid, "b", 10, time.time())
    assert claim["ranking"] == {"model_version": 1, "strategy": "margin", "labels": 25, "stale_labels": 0}
    assert {(item["model_version"], item["strategy"]) for item in claim["items"]} == {(1, "margin")}


def test_without_a_cap_next_never_waits_and_marks_unranked_items(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, pool=150, max_stale_labels=None)
    before = claim_next(store, pid, "early", 5, time.time())  # no ranking yet: the pool's random order
    assert len(before["items"]) == 5 and {item["strategy"] for item in before["items"]} == {"unranked"}
    loop.run_pending()  # the cold start ranks the other 145 (k = 100 of them)
    taken = [claim_next(store, pid, f"w{k}", 10, time.time()) for k in range(11)]
    strategies = [item["strategy"] for claim in taken for item in claim["items"]]
    assert strategies.count("cold_start:kmeans++") == 100 and strategies.count("unranked") == 10
    for k, claim in enumerate([before, *taken]):
        answer(store, pid, digits, claim, who="early" if k == 0 else f"w{k - 1}")
    with store.read() as conn:
        rows = list(iter_export(conn, pid))
    assert {(r["strategy"], r["model_version"], r["score"]) for r in rows} == {
        ("unranked", None, None), ("cold_start:kmeans++", None, None)}
    assert sum(r["strategy"] == "unranked" for r in rows) == 15
    # served before any ranking existed: no age; after it, nothing had been labeled yet
    assert {(r["strategy"], r["stale_labels"]) for r in rows} == {
        ("unranked", None), ("cold_start:kmeans++", 0), ("unranked", 0)}


def test_a_ranking_that_runs_out_is_replaced_early(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, pool=300, retrain_every=100)
    loop.run_pending()  # cold start: 300 items ranked... k = max(100, 3 * 100) = 300: the whole pool
    first = claim_next(store, pid, "a", 50, time.time())
    answer(store, pid, digits, first)
    with store.write() as conn:
        conn.execute("DELETE FROM queue WHERE project_id = ? AND rank >= 60", (pid,))  # a short ranking
    held = claim_next(store, pid, "b", 10, time.time())  # the rest of it
    assert len(held["items"]) == 10
    dry = claim_next(store, pid, "c", 10, time.time())
    assert (dry["items"], dry["waiting"]) == ([], "training")  # not the unranked pool: a round is coming
    assert loop.run_pending() == 1  # 50 labels < retrain_every, but the ranking ran out
    with store.read() as conn:
        assert [p["labels"] for p in curve(conn, pid)] == [50]
    assert {item["model_version"] for item in claim_next(store, pid, "c", 10, time.time())["items"]} == {1}


def test_a_cold_start_that_runs_out_before_any_label_is_extended(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, pool=250, retrain_every=20, max_stale_labels=200)
    loop.run_pending()  # 100 ranked by k-means++
    taken = {item["id"] for k in range(10) for item in claim_next(store, pid, f"w{k}", 10, time.time())["items"]}
    dry = claim_next(store, pid, "late", 10, time.time())
    assert (len(taken), dry["items"], dry["waiting"]) == (100, [], "cold_start")
    assert loop.run_pending() == 1  # the rule again, over the 150 nobody holds
    more = claim_next(store, pid, "late", 10, time.time())["items"]
    assert len(more) == 10 and not taken & {item["id"] for item in more}
    assert {item["strategy"] for item in more} == {"cold_start:kmeans++"}


def test_a_model_that_predicts_one_class_never_ranks(store, settings, digits, loop):
    _, y = digits
    ones = [i for i in range(300) if y[i] == 1][:20]
    pid = new_campaign(store, settings, digits, pool=300, retrain_every=20)
    loop.run_pending()
    submit_labels(store, pid, [LabelIn(item_id=i, label="1") for i in ones], time.time())
    assert loop.run_pending() == 1
    claim = claim_next(store, pid, "a", 10, time.time())
    # v1 saw only "1": its ranking would be arbitrary, so the cold-start rule keeps choosing
    assert {(item["model_version"], item["strategy"]) for item in claim["items"]} == {(1, "cold_start:kmeans++")}
    assert len({y[int(item["id"])] for item in claim["items"]}) >= 4


def test_a_one_class_model_over_several_labeled_classes_is_refit_with_balanced_weights(store, settings):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (300, 5)), rng.normal(0.6, 1, (300, 5))]).astype(np.float32)
    y = np.repeat([0, 1], 300)
    project = campaign.create_project(store, settings, ProjectCreate(
        dedup="off", name="skew", labels=["a", "b"], retrain_every=20, stabilize=None,
        model={"name": "logistic_regression", "params": {"C": 1e-4}},  # regularized to the prior
    ))
    import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(600)])
    loop = Controller(store, settings)
    loop.run_pending()
    labeled = list(range(15)) + list(range(300, 305))  # 15 a, 5 b
    submit_labels(store, project.id, [LabelIn(item_id=i, label="ab"[y[i]]) for i in labeled], time.time())
    assert loop.run_pending() == 1
    with store.read() as conn:
        point = curve(conn, project.id)[-1]
    assert point["class_weight"] == "balanced"
    claim = claim_next(store, project.id, "a", 10, time.time())
    assert {item["strategy"] for item in claim["items"]} == {"margin"}


def test_labels_after_a_stop_are_kept_counted_apart_and_trained_on(store, settings, digits, loop):
    pid = new_campaign(store, settings, digits, target={"metric": "accuracy", "value": 0.01})
    loop.run_pending()
    first, second = (claim_next(store, pid, who, 10, time.time()) for who in ("a", "b"))
    answer(store, pid, digits, first, "a")
    answer(store, pid, digits, claim_next(store, pid, "a", 10, time.time()), "a")
    loop.run_pending()  # v1 on 20 labels reaches the target
    status = campaign.project_status(store, loop, pid)
    assert (status["state"], status["stop_reason"], status["settled"]) == ("done", "target_reached", True)
    assert claim_next(store, pid, "c", 10, time.time())["done"]  # no new leases after the stop
    answer(store, pid, digits, second, "b")  # b's work, leased before the stop, is kept
    status = campaign.project_status(store, loop, pid)
    assert (status["labeled"], status["labeled_after_stop"]) == (30, 10)
    assert (status["settled"], status["activity"], status["training"]) == (False, "final_round", True)
    loop.run_pending()
    status = campaign.project_status(store, loop, pid)
    assert (status["settled"], status["activity"], status["model_version"]) == (True, None, 2)
    with store.read() as conn:
        assert curve(conn, pid)[-1]["labels"] == 30
