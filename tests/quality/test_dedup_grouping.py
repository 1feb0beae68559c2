"""Duplicate groups: exact keys, near pairs at the threshold's edges, blocked search, incremental merges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from alloop import campaign
from alloop.loop.embedding import embed_round
from alloop.quality import similarity
from alloop.quality.similarity import near_pairs, normalize_text, spanning, text_key, vector_key
from alloop.schemas import ItemIn, ProjectCreate
from alloop.store.items import import_items


def make(store, settings, **fields):
    body = {"name": "g", "labels": ["a", "b"], "max_stale_labels": None, "dedup_threshold": 0.95, **fields}  # vectors: near duplicates only with a threshold set
    return campaign.create_project(store, settings, ProjectCreate(**body)).id


def groups(store, pid):
    """{frozenset of ext ids} of every group, and their group ids by ext id."""
    with store.read() as conn:
        rows = conn.execute("SELECT ext_id, dup_group FROM items WHERE project_id = ? AND dup_group IS NOT NULL",
                            (pid,)).fetchall()
    by: dict[int, set[str]] = {}
    for ext, g in rows:
        by.setdefault(g, set()).add(ext)
    return {frozenset(v) for v in by.values()}, {ext: g for ext, g in rows}


def unit(angle: float) -> list[float]:
    return [math.cos(angle), math.sin(angle), 0.0]


def test_texts_equal_up_to_case_and_spaces_are_exact_duplicates():
    assert normalize_text("  Call  NOW\tfor a\nprize ") == "call now for a prize"
    assert text_key("Call now for a prize") == text_key("call  NOW for a prize ")
    assert text_key("Call now for a prize") != text_key("Call now for a prize!")
    assert vector_key(np.array([0.0, 1.0])) == vector_key(np.array([-0.0, 1.0]))
    assert vector_key(np.array([0.0, 1.0])) != vector_key(np.array([0.0, 1.0 + 1e-6]))


def test_exact_text_duplicates_are_grouped_at_import(store, settings):
    pid = make(store, settings, input="text", encoder={"name": "hashing", "params": {"dim": 64}})
    texts = {"a": "Win a prize now", "b": "win a  PRIZE now", "c": "See you at lunch", "d": "WIN A PRIZE NOW",
             "e": "see you at lunch", "f": "something else"}
    import_items(store, pid, "pool", [ItemIn(id=k, text=v) for k, v in texts.items()])
    found, ids = groups(store, pid)
    assert found == {frozenset("abd"), frozenset("ce")}
    assert "f" not in ids


@pytest.mark.parametrize("cosine, grouped", [(0.9501, True), (0.9499, False), (0.5, False)])
def test_near_duplicates_are_pairs_at_or_above_the_threshold(store, settings, cosine, grouped):
    pid = make(store, settings, dedup_threshold=0.95)
    angle = math.acos(cosine)
    import_items(store, pid, "pool", [ItemIn(id="x", features=unit(0.3)), ItemIn(id="y", features=unit(0.3 + angle))])
    found, _ = groups(store, pid)
    assert (found == {frozenset("xy")}) is grouped


@pytest.mark.parametrize("threshold, grouped", [(0.6, True), (0.5999, True), (0.6001, False)])
def test_the_threshold_itself_counts(store, settings, threshold, grouped):
    """(3, 4) and (5, 0) have cosine 3/5 exactly as float32 computes it: the edge is inclusive."""
    pid = make(store, settings, dedup_threshold=threshold)
    import_items(store, pid, "pool", [ItemIn(id="x", features=[3.0, 4.0, 0.0]), ItemIn(id="y", features=[5.0, 0.0, 0.0])])
    found, _ = groups(store, pid)
    assert (found == {frozenset("xy")}) is grouped


def test_zero_vectors_match_only_exactly(store, settings):
    pid = make(store, settings)
    import_items(store, pid, "pool", [ItemIn(id=k, features=[0.0, 0.0, 0.0]) for k in "ab"]
                 + [ItemIn(id="c", features=[1.0, 0.0, 0.0])])
    found, _ = groups(store, pid)
    assert found == {frozenset("ab")}


def test_later_imports_join_and_bridge_groups_whose_id_is_the_smallest_member(store, settings):
    pid = make(store, settings, dedup_threshold=0.99)
    step = math.acos(0.995)  # neighbours are near duplicates, two steps apart are not (cos 0.98)
    import_items(store, pid, "pool", [ItemIn(id="p0", features=unit(0.0)), ItemIn(id="p1", features=unit(step)),
                                      ItemIn(id="q0", features=unit(3 * step)), ItemIn(id="z", features=unit(2.0))])
    found, ids = groups(store, pid)
    assert found == {frozenset({"p0", "p1"})}
    import_items(store, pid, "pool", [ItemIn(id="q1", features=unit(4 * step))])
    found, _ = groups(store, pid)
    assert found == {frozenset({"p0", "p1"}), frozenset({"q0", "q1"})}
    import_items(store, pid, "pool", [ItemIn(id="bridge", features=unit(2 * step))])
    found, after = groups(store, pid)
    assert found == {frozenset({"p0", "p1", "bridge", "q0", "q1"})}
    with store.read() as conn:
        smallest = conn.execute("SELECT MIN(idx) FROM items WHERE ext_id IN ('p0', 'p1', 'q0', 'q1', 'bridge') "
                                "AND project_id = ?", (pid,)).fetchone()[0]
    assert set(after.values()) == {smallest}
    assert "z" not in after


def test_text_items_are_near_grouped_once_embedded(store, settings):
    pid = make(store, settings, input="text", encoder={"name": "hashing", "params": {"dim": 4096}},
               dedup_threshold=0.9)
    base = "please call our customer service line today to claim your free holiday voucher worth 500 pounds"
    texts = {"orig": base, "edit": base.replace("500", "900"), "other": "are we still meeting for lunch at noon"}
    import_items(store, pid, "pool", [ItemIn(id=k, text=v) for k, v in texts.items()])
    assert groups(store, pid)[0] == set()  # not embedded yet: no vectors to compare
    done, write = embed_round(store, pid, 100)
    assert done == 3
    with store.write() as conn:
        write(conn)
    assert groups(store, pid)[0] == {frozenset({"orig", "edit"})}


def brute(X: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    S = U @ U.T
    return {(i, j) for i in range(len(X)) for j in range(i + 1, len(X)) if S[i, j] >= threshold}


def test_the_blocked_search_finds_what_the_full_product_does(monkeypatch):
    monkeypatch.setattr(similarity, "QUERY_BLOCK", 7)
    monkeypatch.setattr(similarity, "BASE_BLOCK", 11)
    rng = np.random.default_rng(3)
    protos = rng.normal(size=(6, 5)).astype(np.float32)
    X = (protos[rng.integers(0, 6, 80)] + rng.normal(scale=0.15, size=(80, 5))).astype(np.float32)
    rows = np.arange(80)
    found = {(min(int(a), int(b)), max(int(a), int(b))) for a_, b_, _ in near_pairs(X, rows, rows, 0.97)
             for a, b in zip(a_, b_)}
    assert found == brute(X, 0.97)
    # new rows against all: pairs among old rows are not looked for, every pair with a new row is
    new = rows[60:]
    found = {(min(int(a), int(b)), max(int(a), int(b))) for a_, b_, _ in near_pairs(X, new, rows, 0.97)
             for a, b in zip(a_, b_)}
    assert found == {p for p in brute(X, 0.97) if p[1] >= 60}


def components(n: int, pairs: set[tuple[int, int]]) -> set[frozenset[int]]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    out: dict[int, set[int]] = {}
    for x in {x for p in pairs for x in p}:
        out.setdefault(find(x), set()).add(x)
    return {frozenset(v) for v in out.values()}


@hsettings(max_examples=60, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 30), st.integers(0, 30)).filter(lambda p: p[0] != p[1]), max_size=60))
def test_spanning_keeps_the_components_with_one_link_per_node(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    sa, sb = spanning(a, b)
    assert components(31, {(int(x), int(y)) for x, y in zip(sa, sb)}) == components(31, pairs)
    assert len(set(sa.tolist())) == len(sa)  # each node at most once on the linking side


def test_an_import_whose_near_search_never_ran_is_covered_by_the_next(store, settings, monkeypatch):
    """Vectors are searched after the import's commit: a crash there leaves them to the next import."""
    from alloop.store import items as items_module

    pid = make(store, settings)
    real = items_module.near_links

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-search")

    monkeypatch.setattr(items_module, "near_links", crash)
    with pytest.raises(RuntimeError):
        import_items(store, pid, "pool", [ItemIn(id="x", features=unit(0.0)), ItemIn(id="y", features=unit(0.01))])
    assert groups(store, pid)[0] == set()  # committed, not yet searched
    monkeypatch.setattr(items_module, "near_links", real)
    import_items(store, pid, "pool", [ItemIn(id="z", features=unit(2.0))])
    assert groups(store, pid)[0] == {frozenset("xy")}
    with store.read() as conn:
        assert conn.execute("SELECT near_row FROM projects WHERE id = ?", (pid,)).fetchone()[0] == 3
