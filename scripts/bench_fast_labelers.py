#!/usr/bin/env python
"""Fast labelers against a real server: does the loop keep up, and what does waiting cost?

Scripted annotators with no think time label a digits campaign over loopback HTTP (batch 10,
budget 300, retrain every 20 labels, margin, logistic regression), starting the moment the pool
is imported. Each row is one campaign; for 1, 3 and 10 annotators it runs twice in the same
invocation: with the default bounded staleness (``max_stale_labels`` = 2 x retrain_every) and
with ``max_stale_labels: null`` (never wait: the behaviour before bounded staleness, the
baseline). Printed per campaign:

- labels/s: labels acknowledged per second of wall time, from the first poll to the last label;
- staleness of every served batch: labels the ranking it came from was behind, p50 / p90 / max
  (batches served before any ranking existed count as "no ranking");
- where the items came from: share chosen by a model's ranking, by the cold-start rule, or unranked;
- curve points and the final model's accuracy on 400 held-out digits.

    .venv/bin/python scripts/bench_fast_labelers.py            # 1, 3, 10 annotators
    .venv/bin/python scripts/bench_fast_labelers.py --annotators 3 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess

BUDGET = 300
PROTOCOL = {"batch_size": 10, "retrain_every": 20, "budget": BUDGET, "seed": 0, "strategy": {"name": "margin"},
            "model": {"name": "logistic_regression"}, "stabilize": None}


def campaign(annotators: int, bounded: bool) -> dict:
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    evals, pool = order[:400], order[400:]
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            with Client(server.url) as client:
                extra = {} if bounded else {"max_stale_labels": None}
                pid = client.create_project(name="fast", labels=[str(d) for d in range(10)], **PROTOCOL, **extra)["id"]
                client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist(), "label": str(y[i])} for i in evals],
                                 "eval")
                client.add_items(pid, [{"id": f"x{i}", "features": X[i].tolist()} for i in pool])
            ledger = Ledger()
            started = time.perf_counter()
            run_annotators(server.url, pid, {f"x{i}": str(y[i]) for i in pool}, ledger, annotators=annotators, n=10)
            wall = time.perf_counter() - started
            with Client(server.url) as client:
                status = client.wait_until_settled(pid, timeout=600)
                curve = client.metrics(pid)
        finally:
            server.stop()
    stale = [b["ranking"]["stale_labels"] for b in ledger.batches if b["ranking"] is not None]
    sources = [strategy for b in ledger.batches for _, strategy, _ in b["items"]]
    share = lambda test: sum(map(test, sources)) / max(1, len(sources))
    quantile = lambda q: float(np.quantile(stale, q)) if stale else float("nan")
    return {
        "annotators": annotators, "max_stale": status["max_stale_labels"], "labels_per_s": len(ledger.acknowledged) / wall,
        "stale_p50": quantile(0.5), "stale_p90": quantile(0.9), "stale_max": max(stale, default=float("nan")),
        "no_ranking": sum(b["ranking"] is None for b in ledger.batches),
        "model": share(lambda s: s not in ("unranked",) and not str(s).startswith("cold_start")),
        "cold_start": share(lambda s: str(s).startswith("cold_start")), "unranked": share(lambda s: s == "unranked"),
        "points": len(curve), "accuracy": status["metrics"]["accuracy"], "labeled": status["labeled"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--repeat", type=int, default=1, help="campaigns per setting (the table shows each)")
    args = parser.parse_args()
    rows = []
    for annotators in args.annotators:
        for _ in range(args.repeat):
            for bounded in (True, False):
                rows.append(campaign(annotators, bounded))
                print(f"  {annotators} annotator(s), {'bounded' if bounded else 'never wait'}: done", file=sys.stderr)
    header = ["annotators", "max_stale", "labels_per_s", "stale_p50", "stale_p90", "stale_max", "no_ranking", "model",
              "cold_start", "unranked", "points", "accuracy"]
    print(" | ".join(f"{h:>12}" for h in header))
    for row in rows:
        cells = []
        for h in header:
            value = row[h]
            if h in ("model", "cold_start", "unranked"):
                cells.append(f"{100 * value:>11.0f}%")
            elif isinstance(value, float):
                cells.append(f"{value:>12.3f}" if h == "accuracy" else f"{value:>12.1f}")
            else:
                cells.append(f"{value!s:>12}")
        print(" | ".join(cells))
    for annotators in args.annotators:
        bounded = [r for r in rows if r["annotators"] == annotators and r["max_stale"] is not None]
        never = [r for r in rows if r["annotators"] == annotators and r["max_stale"] is None]
        rate = statistics.median(r["labels_per_s"] for r in bounded) / statistics.median(r["labels_per_s"] for r in never)
        gain = statistics.median(r["accuracy"] for r in bounded) - statistics.median(r["accuracy"] for r in never)
        print(f"{annotators} annotator(s): bounded / never-wait labels per second {rate:.2f}x, "
              f"accuracy at {BUDGET} labels {gain:+.3f}")


if __name__ == "__main__":
    main()
