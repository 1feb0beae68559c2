#!/usr/bin/env python
"""Duplicates and leakage on SMS spam, through the server's own code path (issue 17, points 1 and 2).

Part 1, serving: a text campaign on the whole SMS spam set (5,574 messages, 415 exact duplicate texts
once case and spaces are folded, more near duplicates) is imported, embedded by the project's encoder
(the embedding round's code), then labeled by three interleaved oracle annotators polling ``/next``'s
store call (``claim_next``) while the loop controller retrains and re-ranks every 50 labels, up to the
budget. It runs twice on the same seed: ``dedup: skip`` (the default) and ``dedup: off`` (the baseline:
the pool as it is). Both are checked against the skip run's groups: batches holding two members of
one group, items leased while a member of their group was out with another annotator, and labels
spent on an item whose duplicate was already labeled (what skipping saves).

Part 2, leakage: a pool/eval split of the same messages with planted duplicates in the eval split,
half exact (the pool text with its case and spacing changed), half near (the pool text lightly
edited: the last word of a long message dropped, or a full stop added or dropped), on a text project; and the same split as a vector
project on the messages' vectors with exact copies and noised copies (Gaussian, 1% of the norm).
Prints planted duplicates found / planted, and the duplicates the data already had.

    .venv/bin/python scripts/bench_quality_dedup.py                      # all-MiniLM-L6-v2, as projects default
    .venv/bin/python scripts/bench_quality_dedup.py --encoder hashing    # seconds, no model
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from alloop import campaign
from alloop.loop import Controller
from alloop.loop.embedding import embed_round
from alloop.quality import duplicates, leakage
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.items import feature_file, import_items
from alloop.store.labels import submit_labels
from alloop.store.projects import get_project
from alloop.store.serving import claim_next

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sms_spam" / "sms_spam.csv"
ENCODERS = {"minilm": None, "hashing": {"name": "hashing", "params": {"dim": 2048}}}


def rows() -> list[tuple[str, str]]:
    with open(DATA, newline="", encoding="utf-8") as handle:
        return [(r["label"], r["text"]) for r in csv.DictReader(handle)]


def embed_all(store: Store, pid: int) -> None:
    """The embedding round's compute and write, until every item has its vector."""
    while True:
        done, write = embed_round(store, pid, 512)
        if not done:
            return
        with store.write() as conn:
            write(conn)


def serve(data: list[tuple[str, str]], mode: str, encoder: dict | None, budget: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", worker="thread")
        store = Store(settings.data_dir)
        controller = Controller(store, settings)
        body = ProjectCreate(name=f"sms-{mode}", labels=["ham", "spam"], input="text", encoder=encoder, budget=budget,
                             batch_size=10, retrain_every=50, max_stale_labels=None, stabilize=None, seed=seed,
                             dedup=mode)
        pid = campaign.create_project(store, settings, body).id
        import_items(store, pid, "pool", [ItemIn(id=str(i), text=text) for i, (_, text) in enumerate(data)])
        started = time.perf_counter()
        embed_all(store, pid)
        if mode == "off":  # the baseline is checked against the groups skip would have made
            campaign.patch_project(store, pid, _patch(dedup="skip"))
            with store.read() as conn:
                groups = _groups(conn, pid)
            campaign.patch_project(store, pid, _patch(dedup="off"))
        else:
            with store.read() as conn:
                groups = _groups(conn, pid)
        embed_seconds = time.perf_counter() - started
        result = _annotate(store, controller, pid, data, groups, budget)
        with store.read() as conn:
            project = get_project(conn, pid)
            summary = duplicates.summary(conn, project)
        store.close()
    return {"mode": mode, "groups": len(set(groups.values())), "grouped": len(groups), "embed_s": embed_seconds,
            **result, "skipped": summary["skipped"], "state": project.stop_reason or project.state}


def _patch(**fields):
    from alloop.schemas import ProjectPatch

    return ProjectPatch(**fields)


def _groups(conn, pid: int) -> dict[str, int]:
    return dict(conn.execute("SELECT ext_id, dup_group FROM items WHERE project_id = ? AND dup_group IS NOT NULL",
                             (pid,)).fetchall())


def _annotate(store: Store, controller: Controller, pid: int, data, groups: dict[str, int], budget: int) -> dict:
    """Three annotators: each holds one batch; the oldest batch is labeled, then its annotator asks again."""
    out: dict[str, list[str]] = {}
    labeled_groups: set[int] = set()
    batches = two_in_batch = with_leased = wasted = labels = 0
    next_s: list[float] = []
    who = 0
    while labels < budget:
        name = f"a{who % 3}"
        who += 1
        if name in out:
            ids = out.pop(name)
            answer = submit_labels(store, pid, [LabelIn(item_id=i, label=data[int(i)][0], annotator=name)
                                                for i in ids], time.time())
            labels += answer["accepted"]
            for i in ids:
                if i in groups:
                    wasted += groups[i] in labeled_groups
                    labeled_groups.add(groups[i])
            controller.run_pending()
        t0 = time.perf_counter()
        claim = claim_next(store, pid, name, None, time.time())
        next_s.append(time.perf_counter() - t0)
        ids = [item["id"] for item in claim["items"]]
        if claim["done"] or not ids:
            if not out:
                break
            continue
        batches += 1
        mine = [groups[i] for i in ids if i in groups]
        two_in_batch += len(mine) != len(set(mine))
        others = {groups[i] for other in out.values() for i in other if i in groups}
        with_leased += bool(set(mine) & others)
        out[name] = ids
    return {"labels": labels, "batches": batches, "two_in_batch": two_in_batch, "with_leased": with_leased,
            "wasted": wasted, "next_p50_ms": 1000 * float(np.median(next_s)),
            "next_p99_ms": 1000 * float(np.percentile(next_s, 99))}


def edit(text: str, k: int) -> str:
    """A light edit: drop the last word of a message of 12 words or more; else end it with a full stop
    (or drop its final punctuation mark)."""
    words = text.split()
    if k % 2 and len(words) >= 12:
        return " ".join(words[:-1])
    text = text.rstrip()
    return text[:-1] if text[-1:] in ".!?" else text + "."


def planted_split(data, n_eval: int, plants: int, seed: int):
    rng = np.random.default_rng(seed)
    keys = {}
    for i, (_, text) in enumerate(data):  # one message per text, so planted pairs are the only known ones
        keys.setdefault(" ".join(text.lower().split()), i)
    unique = np.array(sorted(keys.values()))
    order = rng.permutation(unique)
    evals, pool = order[:n_eval], order[n_eval:]
    sources = rng.choice(pool, plants, replace=False)
    return pool, evals, sources


def leakage_text(data, encoder, n_eval: int, plants: int, seed: int) -> dict:
    pool, evals, sources = planted_split(data, n_eval, plants, seed)
    planted = {}
    eval_items = [ItemIn(id=f"e{i}", text=data[i][1], label=data[i][0]) for i in evals]
    for k, src in enumerate(sources):
        text = data[src][1]
        copy = text.upper() if k < plants // 2 else edit(text, k)
        planted[f"x{k}"] = (str(src), k < plants // 2)
        eval_items.append(ItemIn(id=f"x{k}", text=copy, label=data[src][0]))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", worker="thread")
        store = Store(settings.data_dir)
        pid = campaign.create_project(store, settings, ProjectCreate(
            name="leak-text", labels=["ham", "spam"], input="text", encoder=encoder, stabilize=None)).id
        import_items(store, pid, "pool", [ItemIn(id=str(i), text=data[i][1]) for i in pool])
        import_items(store, pid, "eval", eval_items)
        embed_all(store, pid)
        result = _found(store, pid, planted)
        with store.read() as conn:
            project = get_project(conn, pid)
            X = np.asarray(feature_file(store, project).matrix())
            row = dict(conn.execute("SELECT ext_id, row FROM items WHERE project_id = ? AND split = 'pool'",
                                    (pid,)).fetchall())
        store.close()
    vectors = {i: X[row[str(i)]] for i in pool}
    return {"text": result, "vector": _leakage_vectors(data, vectors, pool, evals, sources, X, row, seed),
            "pool": len(pool), "eval": len(evals)}


def _leakage_vectors(data, vectors, pool, evals, sources, X, row, seed) -> dict:
    """The same split as vectors: eval items are random pool-free directions' neighbours; plants are
    exact and noised copies of pool vectors."""
    rng = np.random.default_rng(seed + 1)
    dim = X.shape[1]
    planted, eval_items = {}, []
    for k, src in enumerate(sources):
        v = vectors[src].astype(np.float32)
        if k >= len(sources) // 2:
            v = v + rng.normal(scale=0.01 * float(np.linalg.norm(v)) / np.sqrt(dim), size=dim).astype(np.float32)
        planted[f"x{k}"] = (str(src), k < len(sources) // 2)
        eval_items.append(ItemIn(id=f"x{k}", features=v.tolist(), label=data[src][0]))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", worker="thread")
        store = Store(settings.data_dir)
        pid = campaign.create_project(store, settings, ProjectCreate(
            # vectors search near duplicates only with a threshold: the text projects' default, here set
            name="leak-vector", labels=["ham", "spam"], stabilize=None, dedup_threshold=0.95)).id
        import_items(store, pid, "pool", [ItemIn(id=str(i), features=vectors[i].tolist()) for i in pool])
        started = time.perf_counter()
        import_items(store, pid, "eval", eval_items)
        seconds = time.perf_counter() - started
        result = _found(store, pid, planted)
        store.close()
    return {**result, "import_s": seconds}


def _found(store: Store, pid: int, planted: dict[str, tuple[str, bool]]) -> dict:
    with store.read() as conn:
        pairs = {(p["eval_id"], p["pool_id"]) for p in leakage.pairs(conn, pid, 1_000_000)}
    hit = {e for e, (p, _) in planted.items() if (e, p) in pairs}
    exact = sum(1 for e, (_, is_exact) in planted.items() if is_exact)
    return {"planted": len(planted), "found": len(hit), "exact_found": sum(planted[e][1] for e in hit),
            "exact": exact, "other_eval_leaked": len({e for e, _ in pairs if e not in planted})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="minilm")
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--plants", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["serving", "leakage"], default=None, help="run one part")
    args = parser.parse_args()
    data = rows()
    encoder = ENCODERS[args.encoder]
    if args.only != "leakage":
        serving(data, encoder, args)
    if args.only != "serving":
        leaks(data, encoder, args)


def serving(data, encoder, args) -> None:
    runs = [serve(data, mode, encoder, args.budget, args.seed) for mode in ("skip", "off")]
    cols = ["mode", "groups", "grouped", "labels", "batches", "two_in_batch", "with_leased", "wasted", "skipped",
            "next_p50_ms", "next_p99_ms", "embed_s", "state"]
    print(f"SMS spam, {len(data)} messages, encoder {args.encoder}, budget {args.budget}, batch 10, 3 annotators")
    print("wasted: labels given to an item whose duplicate was already labeled; skipped: items skip took out")
    print(" | ".join(f"{c:>12}" for c in cols))
    for run in runs:
        print(" | ".join(f"{run[c]:>12.1f}" if isinstance(run[c], float) else f"{run[c]:>12}" for c in cols))


def leaks(data, encoder, args) -> None:
    result = leakage_text(data, encoder, 500, args.plants, args.seed)
    print(f"\nleakage: pool {result['pool']} messages, eval {result['eval']} + {args.plants} planted "
          "(half exact, half near); other_eval_leaked: eval items the data itself duplicates")
    cols = ["kind", "planted", "found", "exact", "exact_found", "other_eval_leaked"]
    print(" | ".join(f"{c:>17}" for c in cols))
    for kind in ("text", "vector"):
        row = {"kind": kind, **result[kind]}
        print(" | ".join(f"{row[c]:>17}" for c in cols))
    print(f"vector eval import with its leakage search: {result['vector']['import_s']:.2f} s")


if __name__ == "__main__":
    main()
