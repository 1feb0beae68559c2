#!/usr/bin/env python
"""Load over loopback: N annotator threads polling /next and labeling, idle vs during retraining.

Both phases run in the same invocation against fresh servers, so the ratio is what counts
on a noisy machine; ``--repeat`` alternates them and reports the median ratio, because a
p99 over one phase is set by a handful of slow moments. "idle": retraining never triggers;
"retraining": a random forest (300 trees) retrains on every 50 labels, and the annotators'
answers follow a noisy rule the trees must fit, so a round is nearly always running in the
worker process (its CPU seconds are printed). The load starts once the campaign has its
first ranking, as a tool that calls ``Client.wait_until_ready`` would.

The server's and this client's CPU time per request are printed too: on a small machine they
share the cores, so the client must stay the cheaper of the two (a plain ``http.client``
connection per annotator thread).

    .venv/bin/python scripts/bench_load.py --annotators 50 --polls 200 --pool 60000 --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import zlib
import tempfile
from pathlib import Path


from alloop.client import Client
from alloop.loadgen import Behaviour, percentile, run_load, violations
from alloop.process import ServerProcess

LEASE = 5


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def answer(item_id: str) -> str:
    """The annotators' label: ``b`` more often where ``k % 17 > 8``, else noise (``i{k}`` ids)."""
    k = int(item_id[1:])
    noise = zlib.crc32(item_id.encode()) / 2**32
    return "b" if noise < (0.8 if k % 17 > 8 else 0.2) else "a"


def phase(name: str, retrain: bool, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            with Client(server.url) as client:
                model = {"name": "random_forest", "params": {"n_estimators": 300}} if retrain else {}
                # Serving under load is what is measured: /next never waits for a round here
                # (scripts/bench_fast_labelers.py measures the loop keeping pace).
                pid = client.create_project(name=name, labels=["a", "b"], lease_seconds=LEASE, stabilize=None,
                                            retrain_every=50 if retrain else 10**9, max_stale_labels=None,
                                            **({"model": model} if model else {}),
                                            **({"dedup": args.dedup} if args.dedup else {}))["id"]
                client.add_items(pid, [{"id": f"i{k}", "features": [k % 17, k % 5, k % 3]} for k in range(args.pool)])
                client.wait_until_ready(pid)
            server_cpu, client_cpu, worker_cpu = server.cpu_seconds(), _own_cpu(), server.children_cpu_seconds()
            result = run_load(server.url, pid, annotators=args.annotators, polls=args.polls,
                              behaviour=Behaviour(abandon=0.1, label_of=answer))
            server_cpu = (server.cpu_seconds() or 0.0) - (server_cpu or 0.0)
            worker_cpu = (server.children_cpu_seconds() or 0.0) - (worker_cpu or 0.0)
            client_cpu = _own_cpu() - client_cpu
            with Client(server.url) as client:
                versions = client.project(pid)["model_version"] or 0
        finally:
            server.stop()
    return {
        "phase": name, "requests": result.requests, "req_per_s": result.requests / result.wall_seconds,
        "next_p50_ms": 1000 * percentile(result.next_seconds, 50), "next_p99_ms": 1000 * percentile(result.next_seconds, 99),
        "labels_p50_ms": 1000 * percentile(result.label_seconds, 50),
        "labels_p99_ms": 1000 * percentile(result.label_seconds, 99),
        "server_ms_cpu_per_req": 1000 * server_cpu / result.requests,
        "client_ms_cpu_per_req": 1000 * client_cpu / result.requests,
        "worker_cpu_s": worker_cpu, "wall_s": result.wall_seconds,
        "double_held": len(violations(result, LEASE)), "retrains": versions, "errors": result.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--polls", type=int, default=200, help="polls per annotator")
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="idle/retraining pairs, alternated")
    parser.add_argument("--dedup", choices=["skip", "propagate", "off"], default=None,
                        help="the projects' duplicate setting (default: the server's, skip); the pool's 255 "
                        "distinct vectors of 3 small integers are near duplicates of each other at cosine 0.95")
    args = parser.parse_args()
    rows, ratios = [], []
    for _ in range(args.repeat):
        pair = [phase("idle", False, args), phase("retraining", True, args)]
        ratios.append(pair[1]["next_p99_ms"] / pair[0]["next_p99_ms"])
        rows += pair
    header = list(rows[0])
    print(" | ".join(f"{h:>13}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]:>13.1f}" if isinstance(row[h], float) else f"{row[h]:>13}" for h in header))
    print("\n/next p99 during retraining / idle, per pair: " + ", ".join(f"{r:.2f}x" for r in ratios))
    print(f"median: {statistics.median(ratios):.2f}x over {len(ratios)} pair(s)")


if __name__ == "__main__":
    main()
