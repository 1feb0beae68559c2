"""Label-error review against injected label flips, with a random-review baseline measured in the same run.

Each campaign runs through the server's own store, controller, label check and /next
(:func:`alloop.simulate.runner.run_campaign`): a noisy oracle labels what /next serves and gets a
seeded ``--noise`` share of the pool wrong (a random other label, the same items for every
campaign of a seed); with review on, a second, reliable annotator asks /next for review items
only after each batch (``round(share x batch)`` of them, 15% of the labels by default) and answers
them truthfully. Reviews spend the budget, so the reviewed campaign's budget is its labels plus
its reviews.

For each dataset and seed it prints: the flips among the labels, the reviews, their recall
(flips reviewed / flips labeled) and precision (flips among the reviews) against a random review
of the same number of labels (the mean of ``--draws`` seeded draws over the same labeled set);
final eval accuracy of the reviewed campaign vs unreviewed campaigns with the same labels and with
the same spend (labels + reviews); and, to take the campaigns' different item choices out, the
reviewed campaign's items refit with the labels as given and as reviewed. Then the cost of one
label check on a few thousand labels.

Then the duplicate parts of :mod:`bench_quality_dedup` (also runnable alone): a text campaign on
SMS spam served with ``dedup: skip`` against ``off`` (batches holding two members of one group, labels
saved by skipping), and the leakage report on a pool/eval split with planted exact and near duplicates
(found / planted, text and vectors).

    .venv/bin/python scripts/bench_quality.py                 # all parts: digits, sms_spam and trec6, 3 seeds
    .venv/bin/python scripts/bench_quality.py --seeds 1 --datasets digits --parts review
    .venv/bin/python scripts/bench_quality.py --parts duplicates,leakage --dedup-encoder hashing
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

from alloop.models import build_model
from alloop.simulate.datasets import DataRef, load_dataset
from alloop.simulate.embeddings import choose_encoder
from alloop.simulate.runner import CampaignSpec, Split, oracle_answers, run_campaign

LABELS = {"digits": 400, "sms_spam": 500, "sst2": 500, "trec6": 500, "ag_news": 500}
"""Labels each campaign collects (the reviewed one collects as many, plus its reviews)."""
LOGISTIC = {"name": "logistic_regression", "params": {}}
HASHING_MODEL = {"name": "logistic_regression", "params": {"C": 100.0}}
"""Hashed word counts are sparse and L2-normalized: the default C=1 shrinks every probability toward the
class prior, and the out-of-fold probabilities then cannot tell a flip from a hard item."""


def _model(name: str) -> dict[str, Any]:
    return HASHING_MODEL if name != "digits" and ENCODER == "hashing" else LOGISTIC


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,sms_spam,trec6",
                        help="comma-separated: digits and catalog text sets (sms_spam, sst2, trec6, ag_news)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per dataset (0..N-1)")
    parser.add_argument("--noise", type=float, default=0.1, help="share of pool items the oracle labels wrong")
    parser.add_argument("--review-share", type=float, default=0.15, help="review items per labeled item")
    parser.add_argument("--batch", type=int, default=20, help="labels per batch (and per retrain)")
    parser.add_argument("--draws", type=int, default=1000, help="random-review draws for the baseline")
    parser.add_argument("--check-labels", type=int, default=3000, help="labels for the timed label check (0: skip it)")
    parser.add_argument("--parts", default="review,duplicates,leakage",
                        help="comma-separated: review (label errors), duplicates (serving), leakage")
    parser.add_argument("--dedup-encoder", default="minilm", choices=("minilm", "hashing"),
                        help="the duplicate parts' text encoder")
    parser.add_argument("--dedup-budget", type=int, default=600, help="labels of each duplicate-serving campaign")
    parser.add_argument("--plants", type=int, default=60, help="planted eval duplicates (half exact, half near)")
    parser.add_argument("--encoder", default="auto", choices=("auto", "minilm", "hashing"),
                        help="text vectors: auto takes minilm where the text extra is installed")
    return parser.parse_args()


def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y, [str(d) for d in range(10)]


ENCODER = "minilm"
"""How the text set becomes vectors (``--encoder``): the project's own encoders, cached by
:func:`alloop.simulate.embeddings.embed_texts`: ``minilm``, the sentence encoder of the text extra
(a text project's default; about a minute for the 5,574 texts on a laptop CPU, once), or ``hashing``."""


def _text(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A text set of the simulation catalog (shared data), as vectors of the chosen encoder."""
    data = load_dataset(DataRef(name=name, encoder=ENCODER), quiet=True)
    return np.asarray(data.X, dtype=np.float32), np.asarray(data.y), [str(label) for label in data.labels]


TEXT_SETS = ("sms_spam", "sst2", "trec6", "ag_news")


def _load(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return _digits() if name == "digits" else _text(name)


def _split(name: str, seed: int) -> Split:
    X, y, labels = _load(name)
    order = np.random.default_rng([seed, 99]).permutation(y.size)
    n_eval = min(1000, y.size // 3)
    pool, ev = order[n_eval:], order[:n_eval]
    return Split(X[pool], y[pool], X[ev], y[ev], labels)


def _spec(name: str, seed: int, budget: int, args: argparse.Namespace, review: bool) -> CampaignSpec:
    return CampaignSpec(strategy="margin", seed=seed, batch_size=args.batch, budget=budget, initial=args.batch,
                        retrain_every=args.batch, cold_start="random", noise=args.noise, model=_model(name),
                        review={"share": args.review_share} if review else None)


def _random_review(labeled: list[int], flips: set[int], reviews: int, draws: int, seed: int) -> tuple[float, float]:
    """(recall, precision) of reviewing ``reviews`` of the labels picked at random, averaged over draws."""
    rng = np.random.default_rng([seed, 7])
    hits = np.asarray([len(flips.intersection(rng.choice(labeled, size=reviews, replace=False).tolist()))
                       for _ in range(draws)], dtype=np.float64)
    return float(hits.mean() / max(1, len(flips))), float(hits.mean() / max(1, reviews))


def one_seed(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    split = _split(name, seed)
    labels = LABELS[name]
    budget = labels + round(args.review_share * labels)
    reviewed = run_campaign(split, _spec(name, seed, budget, args, review=True))
    given = oracle_answers(split, _spec(name, seed, budget, args, review=True))
    labeled = reviewed["labeled"]
    flips = {p for p in labeled if given[p] != split.y_pool[p]}
    outcomes = dict(reviewed["reviews"])
    found = flips.intersection(outcomes)
    same_labels = run_campaign(split, _spec(name, seed, len(labeled), args, review=False))
    same_spend = run_campaign(split, _spec(name, seed, budget, args, review=False))
    random_recall, random_precision = _random_review(labeled, flips, len(outcomes), args.draws, seed)
    fixed = dict(zip(labeled, reviewed["final_labels"]))
    noisy_fit, reviewed_fit = (
        _fit_accuracy(split, name, seed, labeled, labels_) for labels_ in (given[labeled], reviewed["final_labels"]))
    return {
        "dataset": name, "seed": seed, "labels": len(labeled), "flips": len(flips), "reviews": len(outcomes),
        "recall": len(found) / max(1, len(flips)), "precision": len(found) / max(1, len(outcomes)),
        "random_recall": random_recall, "random_precision": random_precision,
        "errors_left": sum(fixed[p] != split.y_pool[p] for p in labeled),
        "acc_reviewed": reviewed["curve"][-1]["accuracy"], "acc_same_labels": same_labels["curve"][-1]["accuracy"],
        "acc_same_spend": same_spend["curve"][-1]["accuracy"], "seconds": reviewed["seconds"],
        "fit_noisy": noisy_fit, "fit_reviewed": reviewed_fit,
    }


def _fit_accuracy(split: Split, name: str, seed: int, rows: list[int], labels: Any) -> float:
    """Eval accuracy of the dataset's model fitted on these pool rows with these labels (same items, only
    the labels differ: the reviews' own effect, without the campaigns' different choices of items)."""
    model = build_model(_model(name), len(split.labels), seed)
    model.fit(split.X_pool[rows], np.asarray(labels))
    return float(np.mean(model.predict_proba(split.X_eval).argmax(axis=1) == split.y_eval))


def check_cost(name: str, n: int, noise: float) -> dict[str, Any]:
    """Seconds of one label check (5 folds of the default model, cleanlab) on ``n`` noisy labels."""
    from alloop import campaign
    from alloop.loop.snapshot import take_snapshot
    from alloop.quality.label_errors import check_labels
    from alloop.schemas import ItemIn, LabelIn, ProjectCreate, ReviewSpec
    from alloop.settings import Settings
    from alloop.store import Store
    from alloop.store.items import import_items
    from alloop.store.labels import submit_labels

    X, y, labels = _load(name)
    n = min(n, y.size)
    given = oracle_answers(Split(X, y, X[:0], y[:0], labels), CampaignSpec(strategy="margin", seed=0, noise=noise))
    with tempfile.TemporaryDirectory(prefix="alloop-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), worker="thread", synchronous="OFF")
        store = Store(settings.data_dir, synchronous="OFF", journal_mode="MEMORY")
        try:
            pid = campaign.create_project(store, settings, ProjectCreate(
                name="check", labels=labels, model=_model(name), review={"max_labels": max(50, n)},
                stabilize=None)).id
            import_items(store, pid, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(n)])
            submit_labels(store, pid, [LabelIn(item_id=i, label=labels[given[i]], annotator="a") for i in range(n)],
                          time.time())
            snap = take_snapshot(store, pid)
            started = time.perf_counter()
            check = check_labels(store, snap, ReviewSpec(max_labels=max(50, n)), version=1)
            seconds = time.perf_counter() - started
        finally:
            store.close()
    return {"dataset": name, "labels": n, "suspects": len(check["suspects"]), "seconds": seconds}


def _table(rows: list[dict[str, Any]]) -> None:
    head = ("dataset", "seed", "labels", "flips", "reviews", "recall", "random", "precision", "random",
            "errors left", "acc reviewed", "acc same labels", "acc same spend", "refit noisy", "refit reviewed")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([
            r["dataset"], str(r["seed"]), str(r["labels"]), str(r["flips"]), str(r["reviews"]), f"{r['recall']:.2f}",
            f"{r['random_recall']:.2f}", f"{r['precision']:.2f}", f"{r['random_precision']:.2f}",
            str(r["errors_left"]), f"{r['acc_reviewed']:.3f}", f"{r['acc_same_labels']:.3f}",
            f"{r['acc_same_spend']:.3f}", f"{r['fit_noisy']:.3f}", f"{r['fit_reviewed']:.3f}",
        ]))


PARTS = ("review", "duplicates", "leakage")


def main() -> None:
    args = _args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        raise SystemExit(f"unknown parts {sorted(set(parts) - set(PARTS))}; use: {', '.join(PARTS)}")
    if "review" in parts:
        review(args)
    if {"duplicates", "leakage"} & set(parts):
        import bench_quality_dedup as dup  # the scripts folder is on sys.path when this runs as a script

        data = dup.rows()
        encoder = dup.ENCODERS[args.dedup_encoder]
        dedup_args = argparse.Namespace(encoder=args.dedup_encoder, budget=args.dedup_budget, plants=args.plants,
                                        seed=0)
        print()
        if "duplicates" in parts:
            dup.serving(data, encoder, dedup_args)
        if "leakage" in parts:
            dup.leaks(data, encoder, dedup_args)


def review(args: argparse.Namespace) -> None:
    """The label-error part: flips found by reviews against random reviews, accuracy, check cost."""
    global ENCODER
    ENCODER = choose_encoder(args.encoder)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - {"digits", *TEXT_SETS})
    if unknown:
        raise SystemExit(f"unknown datasets {unknown}; use: digits, {', '.join(TEXT_SETS)}")
    rows = []
    for name in names:
        for seed in range(args.seeds):
            rows.append(one_seed(name, seed, args))
            print(f"# {name} seed {seed}: {rows[-1]['seconds']:.1f} s", flush=True)
    print(f"\nnoise {args.noise}, reviews {args.review_share} of the labels, batch {args.batch}, margin + logistic "
          f"regression (text: {ENCODER} vectors{', C=100' if ENCODER == 'hashing' else ''}); recall/precision "
          "against the injected flips, random = same number of reviews at random\n")
    _table(rows)
    print()
    for name in names:
        mine = [r for r in rows if r["dataset"] == name]
        mean = {k: float(np.mean([r[k] for r in mine])) for k in
                ("recall", "random_recall", "precision", "random_precision", "acc_reviewed", "acc_same_labels",
                 "acc_same_spend", "fit_noisy", "fit_reviewed")}
        print(f"{name} mean over {len(mine)} seeds: recall {mean['recall']:.2f} (random {mean['random_recall']:.2f}), "
              f"precision {mean['precision']:.2f} (random {mean['random_precision']:.2f}); accuracy reviewed "
              f"{mean['acc_reviewed']:.3f} vs unreviewed {mean['acc_same_labels']:.3f} (same labels), "
              f"{mean['acc_same_spend']:.3f} (same spend); the reviewed campaign's items refit on their "
              f"labels before / after review {mean['fit_noisy']:.3f} / {mean['fit_reviewed']:.3f}")
    print("\nlabel check cost (5 folds of the dataset's model above, cleanlab), one check:")
    for name in names if args.check_labels > 0 else []:
        cost = check_cost(name, args.check_labels, args.noise)
        print(f"  {name}: {cost['labels']} labels, {cost['suspects']} suspects, {cost['seconds']:.2f} s")


if __name__ == "__main__":
    main()
