#!/usr/bin/env python
"""The digits campaign of issue 2, end to end over HTTP, margin against random in one run.

Starts `alloop serve` on a free loopback port for each run, creates the campaign
(logistic regression, batch 10, retrain every 20, budget 300, target accuracy 0.94 on a
400-item eval split), lets concurrent simulated annotators label from the gold labels,
and prints one row per run.

    .venv/bin/python scripts/bench_loop.py --strategies margin random --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess


def one_run(strategy: str, seed: int, args: argparse.Namespace) -> dict:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    evals, pool = order[:400], order[400:]
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            started = time.monotonic()
            with Client(server.url) as client:
                pid = client.create_project(
                    name=f"digits-{strategy}-{seed}", labels=[str(d) for d in range(10)],
                    strategy={"name": strategy}, batch_size=10, retrain_every=20, budget=args.budget,
                    target={"metric": "accuracy", "value": args.target}, seed=seed,
                )["id"]
                client.add_items(pid, [{"id": str(i), "features": X[i].tolist(), "label": str(y[i])} for i in evals], "eval")
                client.add_items(pid, [{"id": str(i), "features": X[i].tolist()} for i in pool])
                ledger = Ledger()
                run_annotators(server.url, pid, {str(i): str(y[i]) for i in pool}, ledger,
                               annotators=args.annotators, think_seconds=args.think)
                status = client.wait_until_settled(pid)
                wall = time.monotonic() - started
                curve = client.metrics(pid)
        finally:
            server.stop()
    reached = next((p["labels"] for p in curve if p["accuracy"] >= 0.93), None)
    nxt = sorted(ledger.next_seconds)
    return {
        "strategy": strategy, "seed": seed, "stop": status["stop_reason"], "labels": status["labeled"],
        "accuracy": curve[-1]["accuracy"], "to_0.93": reached, "retrains": len(curve), "wall_s": wall,
        "next_p50_ms": 1000 * nxt[len(nxt) // 2], "next_p99_ms": 1000 * nxt[int(0.99 * (len(nxt) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=["margin", "random"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--annotators", type=int, default=3)
    parser.add_argument("--think", type=float, default=0.03, help="seconds an annotator spends per item")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--target", type=float, default=0.94)
    args = parser.parse_args()
    rows = [one_run(s, seed, args) for s in args.strategies for seed in args.seeds]
    header = ["strategy", "seed", "stop", "labels", "accuracy", "to_0.93", "retrains", "wall_s", "next_p50_ms", "next_p99_ms"]
    print(" | ".join(f"{h:>12}" for h in header))
    for row in rows:
        cells = [f"{row[h]:.3f}" if isinstance(row[h], float) else str(row[h]) for h in header]
        print(" | ".join(f"{c:>12}" for c in cells))
    print()
    for strategy in args.strategies:
        mine = [r for r in rows if r["strategy"] == strategy]
        print(f"{strategy:>10}: mean labels {statistics.mean(r['labels'] for r in mine):.0f}, "
              f"mean final accuracy {statistics.mean(r['accuracy'] for r in mine):.3f}, "
              f"mean wall {statistics.mean(r['wall_s'] for r in mine):.1f}s")


if __name__ == "__main__":
    main()
