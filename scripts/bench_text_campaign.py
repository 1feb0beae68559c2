#!/usr/bin/env python
"""Issue 4's text campaign over HTTP: SMS spam, default encoder (all-MiniLM-L6-v2) + logistic head.

Margin and random on the same seed and split, batch 10, budget 200, three oracle annotators;
prints both learning curves (labels -> macro-F1) and the wall time of each campaign.

    .venv/bin/python scripts/bench_text_campaign.py --strategies margin random --seed 0
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np


from alloop.client import Client
from alloop.oracle import Ledger, run_annotators
from alloop.process import ServerProcess

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sms_spam" / "sms_spam.csv"


def campaign(strategy: str, seed: int, rows: list[tuple[str, str]], eval_size: int,
             think: float) -> tuple[list, float, dict]:
    order = np.random.default_rng(seed).permutation(len(rows))
    evals, pool = order[:eval_size], order[eval_size:]
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start(timeout=120)
        try:
            started = time.monotonic()
            with Client(server.url, timeout=300) as client:
                pid = client.create_project(name=f"sms-{strategy}", labels=["ham", "spam"], input="text",
                                            strategy={"name": strategy}, batch_size=10, retrain_every=10,
                                            budget=200, seed=seed, stabilize=None)["id"]
                client.add_items(pid, [{"id": str(i), "text": rows[i][1], "label": rows[i][0]} for i in evals], "eval")
                client.add_items(pid, [{"id": str(i), "text": rows[i][1]} for i in pool])
                while client.project(pid)["to_embed"]:
                    time.sleep(1)
                embedded = time.monotonic() - started
                run_annotators(server.url, pid, {str(i): rows[i][0] for i in pool}, Ledger(), think_seconds=think)
                status = client.wait_until_settled(pid, timeout=600)
                curve = client.metrics(pid)
            wall = time.monotonic() - started
        finally:
            server.stop()
    return curve, wall, {"embed_seconds": embedded, "stop": status["stop_reason"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", nargs="+", default=["margin", "random"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--think", type=float, default=0.2, help="seconds an annotator spends per item")
    args = parser.parse_args()
    with open(DATA, newline="", encoding="utf-8") as handle:
        rows = [(r["label"], r["text"]) for r in csv.DictReader(handle)]
    for strategy in args.strategies:
        curve, wall, info = campaign(strategy, args.seed, rows, args.eval_size, args.think)
        points = ", ".join(f"{p['labels']}:{p['macro_f1']:.3f}" for p in curve)
        print(f"{strategy:>8} | wall {wall:6.1f}s (embedding {info['embed_seconds']:.1f}s) | stop {info['stop']} | "
              f"final macro-F1 {curve[-1]['macro_f1']:.3f} | curve {points}", flush=True)


if __name__ == "__main__":
    main()
