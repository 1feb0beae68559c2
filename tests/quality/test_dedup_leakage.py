"""Leakage: eval items that duplicate pool items are found when either side arrives, and can be dropped."""

from __future__ import annotations

import time

import numpy as np
import pytest

from alloop import campaign
from alloop.errors import Invalid
from alloop.quality import leakage
from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ProjectPatch
from alloop.store.items import counts, import_items
from alloop.store.labels import submit_labels
from alloop.store.projects import get_project
from alloop.store.serving import claim_next


def planted(seed: int, n_pool: int = 300, n_eval: int = 100, exact: int = 7, near: int = 9, dim: int = 32):
    """A pool and an eval split of random directions, with ``exact`` eval items copied from the pool and
    ``near`` lightly noised copies; returns (pool, eval, {eval id: pool id} planted)."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n_pool, dim)).astype(np.float32)
    E = rng.normal(size=(n_eval, dim)).astype(np.float32)
    sources = rng.choice(n_pool, exact + near, replace=False)
    plants = {}
    for k, src in enumerate(sources):
        E[k] = P[src] if k < exact else P[src] + rng.normal(scale=0.02, size=dim).astype(np.float32)
        plants[f"e{k}"] = f"p{src}"
    pool = [ItemIn(id=f"p{i}", features=P[i].tolist()) for i in range(n_pool)]
    evals = [ItemIn(id=f"e{i}", features=E[i].tolist(), label="a") for i in range(n_eval)]
    return pool, evals, plants


def make(store, settings, **fields):
    return campaign.create_project(store, settings, ProjectCreate(
        name="l", labels=["a", "b"], budget=None, max_stale_labels=None, **{"dedup_threshold": 0.95, **fields})).id


def found(store, pid):
    with store.read() as conn:
        return {(p["eval_id"], p["pool_id"]): p for p in leakage.pairs(conn, pid, 10_000)}


@pytest.mark.parametrize("eval_first", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_planted_duplicate_is_found_whichever_side_comes_first(store, settings, seed, eval_first):
    pool, evals, plants = planted(seed)
    pid = make(store, settings)
    for split, items in ([("eval", evals), ("pool", pool)] if eval_first else [("pool", pool), ("eval", evals)]):
        import_items(store, pid, split, items)
    pairs = found(store, pid)
    assert set(pairs) == set(plants.items())  # all of them, and nothing else (random directions in 32-d)
    assert sum(p["exact"] for p in pairs.values()) == 7
    with store.read() as conn:
        report = leakage.report(conn, get_project(conn, pid))
    assert report["eval_items"] == 16 and report["exact_eval_items"] == 7 and report["pool_items"] == 16


def test_text_duplicates_leak_exactly_at_import(store, settings):
    pid = make(store, settings, input="text", encoder={"name": "hashing", "params": {"dim": 64}})
    import_items(store, pid, "pool", [ItemIn(id="p1", text="Free entry in a weekly prize draw"),
                                      ItemIn(id="p2", text="free entry in a WEEKLY prize draw"),
                                      ItemIn(id="p3", text="ok see you later")])
    import_items(store, pid, "eval", [ItemIn(id="e1", text="Free entry in a weekly  prize draw", label="b"),
                                      ItemIn(id="e2", text="what time is it", label="a")])
    assert set(found(store, pid)) == {("e1", "p1"), ("e1", "p2")}


def test_drop_takes_leaked_items_out_of_the_pool_and_report_puts_them_back(store, settings):
    pool, evals, plants = planted(5, n_pool=60, n_eval=30)
    pid = make(store, settings, leakage="drop", batch_size=100)
    import_items(store, pid, "pool", pool)
    import_items(store, pid, "eval", evals)
    leaked = set(plants.values())
    served = {i["id"] for i in claim_next(store, pid, "a", 100, time.time())["items"]}
    assert not served & leaked and len(served) == 60 - len(leaked)
    with store.read() as conn:
        assert counts(conn, pid, time.time())["pool"] == 60 - len(leaked)
        assert leakage.report(conn, get_project(conn, pid))["dropped"] == len(leaked)
    with pytest.raises(Invalid, match="dropped from the pool"):
        submit_labels(store, pid, [LabelIn(item_id=next(iter(leaked)), label="a")], time.time())
    campaign.patch_project(store, pid, ProjectPatch(leakage="report"))
    with store.read() as conn:
        assert counts(conn, pid, time.time())["pool"] == 60
        assert leakage.report(conn, get_project(conn, pid))["dropped"] == 0
    served = {i["id"] for i in claim_next(store, pid, "b", 100, time.time())["items"]}
    assert served == leaked


def test_labeled_pool_items_stay_in_the_pool_when_leakage_is_dropped_later(store, settings):
    pool, evals, plants = planted(6, n_pool=40, n_eval=20)
    pid = make(store, settings)
    import_items(store, pid, "pool", pool)
    first = next(iter(plants.values()))
    submit_labels(store, pid, [LabelIn(item_id=first, label="a")], time.time())
    import_items(store, pid, "eval", evals)
    campaign.patch_project(store, pid, ProjectPatch(leakage="drop"))
    with store.read() as conn:
        splits = dict(conn.execute("SELECT ext_id, split FROM items WHERE project_id = ?", (pid,)).fetchall())
    assert splits[first] == "pool"
    assert {splits[p] for p in plants.values() if p != first} == {"leaked"}
