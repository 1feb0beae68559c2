#!/usr/bin/env python
"""Text campaigns on this machine: MiniLM throughput, and one round's cost per model head.

Part 1 embeds real SMS texts (``/work/shared/data/sms_spam/sms_spam.csv``, or ``--csv``)
with the bundled all-MiniLM-L6-v2 at several batch sizes and prints sentences per second.

Part 2 times what the loop does each round on a 10k-item pool of 384-d embeddings: fit on
the labels (retrain), then ``predict_proba`` over the pool (rescore), for the baseline
``logistic_regression`` and for ``torch_mlp`` / ``torch_ensemble``, all in this run. The
pool is the SMS vectors from part 1, resampled to ``--pool`` rows with a small jitter and
renormalized; labels are ham/spam. ``samples`` is ``sample_proba`` over the pool (what BALD
and committee strategies add); ``acc`` is pool accuracy, for context. Each model is fitted
once before timing, so the one-time cost of torch's first optimizer step is excluded.

Examples::

    .venv/bin/python scripts/bench_text.py
    .venv/bin/python scripts/bench_text.py --texts 500 --batch-sizes 64 --labels 100 --repeats 1
    .venv/bin/python scripts/bench_text.py --threads 2 --labels   # encoder only, two torch threads
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alloop.models import build_model
from alloop.models.encoders import load_encoder

CSV = Path("/work/shared/data/sms_spam/sms_spam.csv")
MODELS = ["logistic_regression", "torch_mlp", "torch_ensemble"]


def read_sms(path: Path, n: int) -> tuple[list[str], np.ndarray]:
    """The first ``n`` texts and their labels (1 = spam)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:n]
    return [r["text"] for r in rows], np.array([r["label"] == "spam" for r in rows], dtype=np.int64)


def bench_encoder(texts: list[str], batch_sizes: list[int]) -> tuple[list[list[str]], np.ndarray]:
    """Rows of the throughput table, and the embeddings of ``texts``."""
    started = time.perf_counter()
    encoder = load_encoder(None)
    load_s = time.perf_counter() - started
    encoder.encode(texts[:32])  # warm-up
    rows, vectors = [], None
    for size in batch_sizes:
        started = time.perf_counter()
        vectors = encoder.encode(texts, batch_size=size)
        seconds = time.perf_counter() - started
        rows.append([encoder.name, str(size), str(len(texts)), f"{seconds:.1f}", f"{len(texts) / seconds:.0f}"])
    print(f"encoder load: {load_s:.1f} s (first load in this process; cached afterwards)")
    return rows, vectors


def make_pool(vectors: np.ndarray, y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, d) float32 unit rows resampled from ``vectors`` with jitter, and their labels."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(y), size)
    pool = vectors[pick] + rng.normal(0, 0.02, (size, vectors.shape[1])).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    return pool.astype(np.float32), y[pick]


def time_round(name: str, X: np.ndarray, y: np.ndarray, n_labels: int, seed: int) -> dict[str, Any]:
    """Seconds to fit on ``n_labels`` labels (a random draw) and rescore the pool."""
    labeled = np.random.default_rng(seed).choice(len(y), n_labels, replace=False)
    model = build_model({"name": name}, 2, seed)
    started = time.perf_counter()
    model.fit(X[labeled], y[labeled])
    fitted = time.perf_counter()
    probs = model.predict_proba(X)
    scored = time.perf_counter()
    samples = None
    if hasattr(model, "sample_proba"):
        model.sample_proba(X)
        samples = time.perf_counter() - scored
    return {"fit": fitted - started, "rescore": scored - fitted, "samples": samples,
            "acc": float(np.mean(probs.argmax(axis=1) == y))}


def bench_heads(X: np.ndarray, y: np.ndarray, labels: list[int], repeats: int) -> list[list[str]]:
    """Rows of the per-round table: median over ``repeats`` seeds of each timing."""
    for name in MODELS:  # one untimed fit each: imports and first-step initialization
        time_round(name, X[:2000], y[:2000], 50, 0)
    rows = []
    for n in labels:
        for name in MODELS:
            runs = [time_round(name, X, y, n, seed) for seed in range(repeats)]
            med = {k: statistics.median(r[k] for r in runs) if runs[0][k] is not None else None for k in runs[0]}
            rows.append([str(n), name, f"{med['fit']:.2f}", f"{med['rescore']:.3f}",
                         f"{med['fit'] + med['rescore']:.2f}",
                         "-" if med["samples"] is None else f"{med['samples']:.2f}", f"{med['acc']:.3f}"])
    return rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        cells = zip(row, widths, strict=True)
        print(" | ".join(c.rjust(w) if c[:1].isdigit() or c == "-" else c.ljust(w) for c, w in cells))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=CSV, help="label,text CSV of real texts")
    parser.add_argument("--texts", type=int, default=1000, help="texts embedded per batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--pool", type=int, default=10_000, help="pool rows rescored each round")
    parser.add_argument("--labels", type=int, nargs="*", default=[100, 500, 1000],
                        help="labeled-set sizes of the round table (none: skip it)")
    parser.add_argument("--repeats", type=int, default=3, help="seeds per cell (median reported)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the adapters' cap, cores - 1)")
    args = parser.parse_args()

    from alloop.models import _torch

    torch = _torch.torch()  # imported with the thread cap the adapters use
    if args.threads:
        torch.set_num_threads(args.threads)
    texts, y = read_sms(args.csv, args.texts)
    print(f"cpu cores usable: {len(os.sched_getaffinity(0))}, torch threads: {torch.get_num_threads()}, "
          f"load average: {os.getloadavg()[0]:.1f}, cuda: {torch.cuda.is_available()}\n")
    rows, vectors = bench_encoder(texts, args.batch_sizes)
    print_table(["encoder", "batch", "texts", "seconds", "sentences/s"], rows)
    if not args.labels:
        return
    X, labels = make_pool(vectors, y, args.pool, seed=0)
    print(f"round on a {args.pool}-item pool of {X.shape[1]}-d embeddings (seconds, median of {args.repeats}):")
    print_table(["labels", "model", "retrain", "rescore", "round", "samples", "acc"],
                bench_heads(X, labels, args.labels, args.repeats))


if __name__ == "__main__":
    main()
