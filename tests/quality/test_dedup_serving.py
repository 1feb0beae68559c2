"""Serving with duplicate groups: one member per group among live leases, duplicates of labeled items
skipped (free of budget), labels propagated to exact duplicates with their provenance."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from alloop import campaign
from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ProjectPatch
from alloop.store import Store
from alloop.store.budget import spent
from alloop.store.labels import iter_export, submit_labels
from alloop.store.projects import get_project
from alloop.store.serving import claim_next
from alloop.store.items import import_items

PROTOS = np.eye(8, dtype=np.float32)[:6] + 0.05  # far apart: cosine about 0.1


def pool(rng: np.random.Generator, n: int) -> list[ItemIn]:
    """``n`` items around 6 prototypes: exact copies and lightly noised ones (near duplicates)."""
    items = []
    for k in range(n):
        vector = PROTOS[rng.integers(0, len(PROTOS))].copy()
        if rng.random() < 0.5:
            vector += rng.normal(scale=0.01, size=vector.shape).astype(np.float32)
        items.append(ItemIn(id=f"i{k}", features=vector.tolist()))
    # a few items with no duplicate at all
    items += [ItemIn(id=f"u{k}", features=(np.roll(np.arange(8.0), k) ** 3).tolist()) for k in range(3)]
    return items


def make(store, settings, n=40, seed=0, **fields) -> int:
    body = {"name": "s", "labels": ["a", "b"], "max_stale_labels": None, "budget": None, "batch_size": 5,
            "dedup_threshold": 0.95, **fields}  # vectors: near duplicates only with a threshold set
    pid = campaign.create_project(store, settings, ProjectCreate(**body)).id
    import_items(store, pid, "pool", pool(np.random.default_rng(seed), n))
    return pid


def group_of(store, pid) -> dict[str, int | None]:
    with store.read() as conn:
        return dict(conn.execute("SELECT ext_id, dup_group FROM items WHERE project_id = ?", (pid,)).fetchall())


def label(store, pid, ids, who="x", value="a"):
    return submit_labels(store, pid, [LabelIn(item_id=i, label=value, annotator=who) for i in ids], time.time())


def live_groups(store: Store, pid: int, now: float) -> list[int]:
    with store.read() as conn:
        return [r[0] for r in conn.execute(
            "SELECT i.dup_group FROM leases l JOIN items i ON i.idx = l.item_idx WHERE l.project_id = ? "
            "AND l.expires_at > ? AND i.dup_group IS NOT NULL AND i.labeled = 0", (pid, now))]


def test_a_batch_holds_one_member_per_group_and_others_get_the_rest(store, settings):
    pid = make(store, settings)
    groups = group_of(store, pid)
    assert len({g for g in groups.values() if g is not None}) == 6
    now = time.time()
    first = [i["id"] for i in claim_next(store, pid, "a", 50, now)["items"]]
    assert len(first) == 6 + 3  # one per group, and the three singletons
    assert len({groups[i] for i in first if groups[i] is not None}) == 6
    assert claim_next(store, pid, "b", 50, now)["items"] == []  # every group is out with "a"


def test_labeled_groups_are_skipped_and_cost_no_budget(store, settings):
    pid = make(store, settings, budget=30)
    groups = group_of(store, pid)
    now = time.time()
    served = [i["id"] for i in claim_next(store, pid, "a", 50, now)["items"]]
    label(store, pid, served)
    with store.read() as conn:
        project = get_project(conn, pid)
        assert spent(conn, project) == len(served)
        skipped = conn.execute("SELECT COUNT(*) FROM items WHERE project_id = ? AND labeled = 2", (pid,)).fetchone()[0]
    assert skipped == sum(1 for g in groups.values() if g is not None) - 6
    assert claim_next(store, pid, "b", 50, now)["items"] == []
    with store.read() as conn:
        project = get_project(conn, pid)
    assert project.state == "done" and project.stop_reason == "pool_exhausted"  # budget 30, 9 spent


def test_off_serves_duplicates_side_by_side(store, settings):
    pid = make(store, settings, dedup="off")
    served = claim_next(store, pid, "a", 50, time.time())["items"]
    assert len(served) == 43


def test_turning_dedup_off_and_on_again_unskips_then_regroups(store, settings):
    pid = make(store, settings)
    served = [i["id"] for i in claim_next(store, pid, "a", 3, time.time())["items"]]
    label(store, pid, served)
    count = "SELECT COUNT(*) FROM items WHERE project_id = ? AND labeled = 2"
    with store.read() as conn:
        before = conn.execute(count, (pid,)).fetchone()[0]
    assert before > 0
    campaign.patch_project(store, pid, ProjectPatch(dedup="off"))
    with store.read() as conn:
        assert conn.execute(count, (pid,)).fetchone()[0] == 0
        assert not get_project(conn, pid).grouped
    campaign.patch_project(store, pid, ProjectPatch(dedup="skip"))
    with store.read() as conn:
        assert conn.execute(count, (pid,)).fetchone()[0] == before
        assert get_project(conn, pid).grouped


def test_propagate_copies_labels_to_exact_duplicates_only_with_provenance(store, settings):
    pid = campaign.create_project(store, settings, ProjectCreate(
        name="p", labels=["a", "b"], dedup="propagate", budget=10, max_stale_labels=None, dedup_threshold=0.95)).id
    v = [1.0, 0.0, 0.0, 0.0]
    near = [1.0, 0.01, 0.0, 0.0]
    import_items(store, pid, "pool", [ItemIn(id="x", features=v), ItemIn(id="x2", features=v),
                                      ItemIn(id="x3", features=v), ItemIn(id="n", features=near),
                                      ItemIn(id="other", features=[0.0, 0.0, 1.0, 0.0])])
    answer = label(store, pid, ["x"], who="ann", value="b")
    assert answer["accepted"] == 1 and answer["propagated"] == 2
    rows = {r["item_id"]: r for r in _export(store, pid)}
    assert set(rows) == {"x", "x2", "x3"}
    for copy in ("x2", "x3"):
        assert rows[copy]["label"] == "b" and rows[copy]["propagated_from"] == "x"
        assert rows[copy]["strategy"] == "propagated" and rows[copy]["annotator"] == "ann"
        assert rows[copy]["dup_group"] == rows["x"]["dup_group"] is not None
    assert rows["x"]["propagated_from"] is None
    with store.read() as conn:
        project = get_project(conn, pid)
        assert spent(conn, project) == 1  # copies are free
        labeled = conn.execute("SELECT labeled FROM items WHERE project_id = ? AND ext_id = 'n'", (pid,)).fetchone()
    assert labeled[0] == 2  # the near (not exact) duplicate is skipped, not labeled
    served = [i["id"] for i in claim_next(store, pid, "a", 10, time.time())["items"]]
    assert served == ["other"]


def _export(store, pid):
    with store.read() as conn:
        return list(iter_export(conn, pid))


def test_a_taken_back_label_unskips_its_group(store, settings):
    pid = make(store, settings)
    groups = group_of(store, pid)
    first = next(i for i, g in groups.items() if g is not None)
    label(store, pid, [first])
    with store.write() as conn:  # a Label Studio deletion removes the label row
        conn.execute("DELETE FROM labels WHERE item_idx = (SELECT idx FROM items WHERE project_id = ? AND ext_id = ?)",
                     (pid, first))
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM items WHERE project_id = ? AND labeled != 0", (pid,)).fetchone()[0] == 0


OPS = st.lists(
    st.tuples(st.sampled_from(["claim", "label", "abandon"]), st.integers(0, 3), st.integers(1, 6)),
    min_size=1, max_size=25,
)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, seed=st.integers(0, 3), k=st.sampled_from([1, 2]))
def test_no_two_live_leases_share_a_group_and_no_duplicate_of_a_labeled_item_is_served(
        tmp_path_factory, ops, seed, k):
    """Four annotators claim, label and abandon at random (overlap k = 1 or 2); after every step no two
    items under live leases share a group, and nothing served has a labeled duplicate."""
    from alloop.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("d"), worker="thread")
    store = Store(settings.data_dir)
    try:
        pid = make(store, settings, n=30, seed=seed, labels_per_item=k)
        groups = group_of(store, pid)
        now = time.time()
        held: dict[str, list[str]] = {}
        for op, who, n in ops:
            name = f"a{who}"
            if op == "claim":
                items = claim_next(store, pid, name, n, now)["items"]
                held[name] = [i["id"] for i in items]
                with store.read() as conn:
                    labeled_groups = {r[0] for r in conn.execute(
                        "SELECT i.dup_group FROM labels b JOIN items i ON i.idx = b.item_idx WHERE b.project_id = ?",
                        (pid,)) if r[0] is not None}
                fresh = [i for i in held[name] if groups[i] is not None]
                assert not {groups[i] for i in fresh} & labeled_groups
            elif op == "label" and held.get(name):
                label(store, pid, held.pop(name), who=name)
            elif op == "abandon" and held.get(name):
                with store.write() as conn:  # the lease runs out
                    conn.execute("UPDATE leases SET expires_at = ? WHERE annotator = ?", (now - 1, name))
                held.pop(name)
            live = live_groups(store, pid, now)
            if k == 1:
                assert len(live) == len(set(live)), (op, who, live)
            else:  # with overlap one item may be leased to several annotators: items, not leases, are distinct
                with store.read() as conn:
                    items = conn.execute(
                        "SELECT DISTINCT i.idx, i.dup_group FROM leases l JOIN items i ON i.idx = l.item_idx "
                        "WHERE l.project_id = ? AND l.expires_at > ? AND i.dup_group IS NOT NULL AND i.labeled = 0",
                        (pid, now)).fetchall()
                assert len({r[1] for r in items}) == len(items)
    finally:
        store.close()


@pytest.mark.parametrize("unit", ["items", "cost"])
def test_skipped_items_do_not_count_against_a_cost_budget(store, settings, unit):
    pid = make(store, settings, budget=100, budget_unit=unit)
    served = [i["id"] for i in claim_next(store, pid, "a", 50, time.time())["items"]]
    label(store, pid, served)
    with store.read() as conn:
        assert spent(conn, get_project(conn, pid)) == len(served)
