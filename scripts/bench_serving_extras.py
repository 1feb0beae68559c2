#!/usr/bin/env python
"""What the labeling page's extras cost: /next with the model's suggestion vs without, the
suggestion lookup alone (the cached predictions file, 10 items), and a Prometheus scrape, on
pools of growing size.

Both /next variants run in one process against the same trained campaign, alternating in
rounds (and in which goes first), so the ratio is what counts on a noisy machine. Each /next leases ``--n`` items and the
batch is labeled at once (so the ranking moves on as it would under annotators); retraining is
held off (``retrain_every`` above the labels given) so only serving is timed.

    .venv/bin/python scripts/bench_serving_extras.py --pools 10000,100000 --calls 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

from alloop.app import create_app
from alloop.settings import Settings
from alloop.store.predictions import PREDICTIONS


def campaign(client: TestClient, pool: int, dim: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    centers = rng.normal(size=(10, dim)) * 3
    y = rng.integers(0, 10, size=pool + 500)
    X = centers[y] + rng.normal(size=(y.size, dim))
    pid = client.post("/projects", json={
        "name": f"bench-{pool}", "labels": [str(d) for d in range(10)], "batch_size": 10,
        "retrain_every": 200, "max_stale_labels": None, "stabilize": None, "seed": 0,
    }).json()["id"]
    for start in range(0, pool, 20_000):
        items = [{"id": f"p{i}", "features": X[i].round(4).tolist()} for i in range(start, min(pool, start + 20_000))]
        client.post(f"/projects/{pid}/items", json={"items": items})
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": f"e{i}", "features": X[i].round(4).tolist(), "label": str(y[i])} for i in range(pool, pool + 500)]})
    _label(client, pid, y, 200)  # the first model
    deadline = time.monotonic() + 600
    while client.get(f"/projects/{pid}").json()["model_version"] != 1:
        if time.monotonic() > deadline:
            raise SystemExit("no model within 600 s")
        time.sleep(0.2)
    return pid, y


def _label(client: TestClient, pid: int, y: np.ndarray, n: int) -> float:
    """Lease and label ``n`` items 10 at a time; seconds spent in /next alone."""
    spent = 0.0
    for _ in range(n // 10):
        started = time.perf_counter()
        batch = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 10, "wait": 30}).json()
        spent += time.perf_counter() - started
        labels = [{"item_id": it["id"], "label": str(y[int(it["id"][1:])]), "annotator": "a"} for it in batch["items"]]
        client.post(f"/projects/{pid}/labels", json={"labels": labels})
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", default="10000,100000", help="Comma-separated pool sizes.")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--calls", type=int, default=200, help="/next calls per variant (10 items each).")
    parser.add_argument("--rounds", type=int, default=5, help="Alternations of the two variants.")
    args = parser.parse_args()
    table = Table(title="/next with and without suggestions; Prometheus scrape", title_justify="left")
    for column in ("pool", "/next ms (plain)", "/next ms (suggest)", "ratio", "lookup µs", "scrape ms"):
        table.add_column(column, justify="right")
    rng = np.random.default_rng(0)
    for pool in (int(p) for p in args.pools.split(",")):
        with tempfile.TemporaryDirectory() as tmp, TestClient(create_app(Settings(
                data_dir=Path(tmp), worker="thread", worker_poll_seconds=0.05))) as client:
            pid, y = campaign(client, pool, args.dim, rng)
            per_round = max(10, args.calls // args.rounds // 10 * 10)
            plain, suggest = [], []
            for r in range(args.rounds):
                variants = ((False, plain), (True, suggest))
                for on, out in variants if r % 2 == 0 else variants[::-1]:  # neither always goes first
                    client.patch(f"/projects/{pid}", json={"suggest": on})
                    out.append(_label(client, pid, y, per_round) / (per_round // 10) * 1000)
            folder = client.app.state.store.project_path(pid)
            wanted = list(range(1, pool, max(1, pool // 10)))[:10]  # 10 item idx, as one /next asks for
            started = time.perf_counter()
            for _ in range(1000):
                PREDICTIONS.get(folder).lookup(wanted)
            lookup_us = (time.perf_counter() - started) / 1000 * 1e6
            scrapes = []
            for _ in range(20):
                started = time.perf_counter()
                client.get("/metrics/prometheus")
                scrapes.append((time.perf_counter() - started) * 1000)
            a, b = statistics.median(plain), statistics.median(suggest)
            table.add_row(f"{pool:,}", f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}", f"{lookup_us:.0f}", f"{statistics.median(scrapes):.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
