#!/usr/bin/env python
"""Load over loopback: N annotator threads polling /next and labeling, idle vs during retraining.

Both phases run in the same invocation against fresh servers, so the ratio is what counts
on a noisy machine. "idle": retraining never triggers; "retraining": a slow model retrains
on every 50 labels, so a round is almost always running in the worker process.

The server's and this client's CPU time per request are printed too: on a small machine they
share the cores, so the client must stay the cheaper of the two (a plain ``http.client``
connection per annotator thread).

    .venv/bin/python scripts/bench_load.py --annotators 50 --polls 2000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.client import Client  # noqa: E402
from server.loadgen import percentile, run_load, violations  # noqa: E402
from server.process import ServerProcess  # noqa: E402

LEASE = 5


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase(name: str, retrain: bool, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        try:
            with Client(server.url) as client:
                model = {"name": "random_forest", "params": {"n_estimators": 300}} if retrain else {}
                pid = client.create_project(name=name, labels=["a", "b"], lease_seconds=LEASE, stabilize=None,
                                            retrain_every=50 if retrain else 10**9, **({"model": model} if model else {}))["id"]
                client.add_items(pid, [{"id": f"i{k}", "features": [k % 17, k % 5, k % 3]} for k in range(args.pool)])
            server_cpu, client_cpu = server.cpu_seconds(), _own_cpu()
            result = run_load(server.url, pid, annotators=args.annotators, polls=args.polls, abandon=0.1)
            server_cpu = (server.cpu_seconds() or 0.0) - (server_cpu or 0.0)
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
        "double_held": len(violations(result, LEASE)), "retrains": versions, "errors": result.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--polls", type=int, default=200, help="polls per annotator")
    parser.add_argument("--pool", type=int, default=100_000)
    args = parser.parse_args()
    rows = [phase("idle", False, args), phase("retraining", True, args)]
    header = list(rows[0])
    print(" | ".join(f"{h:>13}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]:>13.1f}" if isinstance(row[h], float) else f"{row[h]:>13}" for h in header))
    print(f"\n/next p99 during retraining / idle: {rows[1]['next_p99_ms'] / rows[0]['next_p99_ms']:.2f}x")


if __name__ == "__main__":
    main()
