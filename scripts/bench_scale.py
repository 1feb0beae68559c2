#!/usr/bin/env python
"""Scaling out (issue 16): pool scoring and embedding on 1, 2 and 4 Ray workers against the worker alone.

Each configuration starts a Ray cluster on loopback on this machine: a head that runs nothing
(0 CPUs) and N worker nodes of one CPU each, and drives it through :mod:`alloop.distributed`, the
code a round runs with ``--ray``:

- **scoring**: ``--rows`` pool rows (64 features) scored by ``--model`` (a 100-tree random forest by
  default) fitted on 2,000 labels, in chunks of ``--chunk`` rows, one task per chunk, gathered in pool order (what
  ``pool_outputs`` does); the baseline is the same chunks scored in this process with one BLAS thread;
- **embedding**: ``--texts`` SMS messages (``../shared/data/sms_spam``) through all-MiniLM-L6-v2, split
  over one encoder actor per worker (what the embedding round does); the baseline encodes them here
  with one torch thread. The actors are warmed (model loaded) before timing.

Rows per second are medians of ``--repeats``; the ratio is to the baseline in the same run. A paper
projection follows: the measured rows/s per worker core times a named cluster's cores, for a
100M-item pool. The machine has 2 cores, so beyond 2 workers the nodes share cores: expect no gain
past 2 (reported as measured). The PostgreSQL replica figures of issue 16 are not measured here:
that store is not built yet.

    .venv/bin/python scripts/bench_scale.py                       # 1, 2, 4 workers
    .venv/bin/python scripts/bench_scale.py --workers 1,2 --rows 200000 --texts 1000
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
CLUSTER_CORES = 512  # the projection's cluster: 16 nodes x 32 cores
POOL = 100_000_000


def _median_rate(count: int, run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return count / statistics.median(times)


def _texts(n: int) -> list[str]:
    from alloop.simulate.datasets import shared_data_dir

    with open(shared_data_dir() / "sms_spam" / "sms_spam.csv", newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return (texts * (n // len(texts) + 1))[:n]


def _model(name: str, rows: int):
    from alloop.models import build_model

    X, y = make_classification(n_samples=rows, n_features=64, n_informative=16, n_classes=4, random_state=0)
    X = X.astype(np.float32)
    model = build_model({"name": name}, 4, 0)
    model.fit(X[:2000], y[:2000])
    return model, X


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--model", default="random_forest",
                        help="the scoring model: random_forest (100 trees: scoring costs like a real model's) or "
                        "logistic_regression (a dot product: shows what a task's round trip costs)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=16_384)
    parser.add_argument("--texts", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still shuts the test cluster down
    os.environ.update(LOOPBACK)
    import ray
    from ray.cluster_utils import Cluster

    from alloop.distributed.ray_pool import RayPool
    from alloop.loop.embedding import load_encoder

    model, X = _model(args.model, args.rows)
    chunks = [X[s : s + args.chunk] for s in range(0, args.rows, args.chunk)]
    texts = _texts(args.texts)
    with threadpool_limits(1):
        import torch

        torch.set_num_threads(1)
        encoder = load_encoder(None)
        encoder.encode(texts[:64])
        base_score = _median_rate(args.rows, lambda: [model.predict_proba(c) for c in chunks], args.repeats)
        base_embed = _median_rate(args.texts, lambda: encoder.encode(texts), args.repeats)
    print(f"({args.model} scoring {args.rows:,} rows x 64 features in chunks of {args.chunk:,}; "
          f"{args.texts:,} SMS texts through all-MiniLM-L6-v2; {os.cpu_count()} cores)\n")
    print("| where | scoring rows/s | ÷ alone | embedding texts/s | ÷ alone |")
    print("|---|---|---|---|---|")
    rows = []

    def show(name: str, score: float, embed: float) -> None:
        rows.append((name, score, embed))
        print(f"| {name} | {score:,.0f} | {score / base_score:.2f} | {embed:,.1f} | {embed / base_embed:.2f} |", flush=True)

    show("worker alone (1 thread)", base_score, base_embed)
    for n in [int(w) for w in args.workers.split(",")]:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                "object_store_memory": 300_000_000})
        try:
            for _ in range(n):
                cluster.add_node(num_cpus=1, object_store_memory=200_000_000)
            cluster.wait_for_nodes()
            pool = RayPool.connect(cluster.address)
            pool.outputs(model, iter(chunks[:n]))  # workers started, imports done
            pool.encode(None, texts[: 8 * n])  # encoder actors loaded
            score = _median_rate(args.rows, lambda: pool.outputs(model, iter(chunks)), args.repeats)
            embed = _median_rate(args.texts, lambda: pool.encode(None, texts), args.repeats)
            show(f"Ray, {n} worker{'s' if n > 1 else ''}", score, embed)
        finally:
            ray.shutdown()
            cluster.shutdown()
    one = rows[1] if len(rows) > 1 else rows[0]
    print(f"\nProjection for a {POOL:,}-item pool on {CLUSTER_CORES} cores (16 nodes x 32), from the 1-worker rates "
          f"(per core, linear in cores: an upper bound; the run above shows how far this machine stays from it):")
    print(f"- embedding: {POOL / (one[2] * CLUSTER_CORES) / 3600:.1f} h "
          f"(vs {POOL / base_embed / 3600 / 24:.0f} days on one core)")
    print(f"- one scoring pass: {POOL / (one[1] * CLUSTER_CORES):.0f} s (vs {POOL / base_score / 60:.0f} min on one core)")


if __name__ == "__main__":
    main()
