#!/usr/bin/env python
"""Replicas on PostgreSQL (issue 16): /next latency and label throughput with 1 vs 2 alloop servers
sharing one database, 50 annotators, and one replica killed with SIGKILL mid-run.

Phases, each on a fresh database in one throwaway PostgreSQL cluster (Debian's packages; started
and stopped here, tests/pgserver.py), against the SQLite server as the baseline, all in one run:

- ``sqlite x1``: the embedded default, one server;
- ``postgresql x1``: one replica on PostgreSQL;
- ``postgresql x2``: two replicas, annotators split between them (round robin, as a load balancer);
- ``postgresql x2, kill -9``: the same, and one replica is SIGKILLed a third of the way in; its
  annotators move to the other one (their in-flight requests fail in transport, counted as errors).

Each phase reports requests/s, /next and /labels p50/p99, labels acknowledged per second, items held
by two annotators at once (``double_held``, must be 0) and acknowledged labels missing from the
store at the end (``lost``, must be 0). A round (logistic regression on the labels) runs every 100
labels, so the replicas share training too. The ratios printed at the end compare 2 replicas with
1 on PostgreSQL, and PostgreSQL with SQLite. On this 2-core machine the replicas, the database and
the 50 client threads share the same cores, so 2 replicas cannot be faster than 1 here; the point
on this machine is correctness under failure, and the cost of the shared database.

    .venv/bin/python scripts/bench_replicas.py --annotators 50 --polls 60 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pgserver import PostgresCluster  # noqa: E402

from alloop.client import Client  # noqa: E402
from alloop.loadgen import Behaviour, percentile, run_load, violations  # noqa: E402
from alloop.process import ServerProcess  # noqa: E402

LEASE = 5


def answer(item_id: str) -> str:
    """The annotators' label: ``b`` more often where ``k % 17 > 8`` (``i{k}`` ids), else noise."""
    k = int(item_id[1:])
    noise = zlib.crc32(item_id.encode()) / 2**32
    return "b" if noise < (0.8 if k % 17 > 8 else 0.2) else "a"


def phase(name: str, cluster: PostgresCluster | None, replicas: int, kill: bool, args: argparse.Namespace,
          serial: list[int]) -> dict:
    store_args: list[str] = []
    if cluster is not None:
        serial[0] += 1
        database = f"bench{serial[0]}"
        cluster.execute(f"CREATE DATABASE {database}")
        store_args = ["--store", cluster.url_for(database)]
    with tempfile.TemporaryDirectory() as tmp:
        servers = [ServerProcess(Path(tmp) / "data", args=store_args).start() for _ in range(replicas)]
        try:
            with Client(servers[0].url) as client:
                pid = client.create_project(name=name, labels=["a", "b"], lease_seconds=LEASE, stabilize=None,
                                            retrain_every=100, max_stale_labels=None, dedup="off")["id"]
                client.add_items(pid, [{"id": f"i{k}", "features": [k % 17, k % 5, k % 3, k % 7]}
                                       for k in range(args.pool)])
                client.wait_until_ready(pid)
            killed: list[float] = []
            killer = None
            if kill:
                def kill_later() -> None:
                    time.sleep(args.kill_after)
                    killed.append(time.time())
                    servers[0].kill9()

                killer = threading.Thread(target=kill_later)
                killer.start()
            result = run_load([s.url for s in servers], pid, annotators=args.annotators, polls=args.polls,
                              behaviour=Behaviour(abandon=0.1, label_of=answer))
            if killer is not None:
                killer.join()
            alive = servers[-1]
            with Client(alive.url) as client:
                stored = {row["item_id"] for row in client.export(pid)}
                versions = client.project(pid)["model_version"] or 0
        finally:
            for server in servers:
                server.stop()
    labels_per_s = len(result.acknowledged) / result.wall_seconds
    return {
        "phase": name, "requests": result.requests, "req_per_s": result.requests / result.wall_seconds,
        "labels_per_s": labels_per_s,
        "next_p50_ms": 1000 * percentile(result.next_seconds, 50),
        "next_p99_ms": 1000 * percentile(result.next_seconds, 99),
        "labels_p99_ms": 1000 * percentile(result.label_seconds, 99),
        "double_held": len(violations(result, LEASE)), "lost": len(set(result.acknowledged) - stored),
        "errors": result.errors, "rounds": versions,
        "served_after_kill": sum(1 for g in result.grants.values() for grant in g if killed and grant[1] > killed[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--polls", type=int, default=60, help="polls per annotator")
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--kill-after", type=float, default=4.0, help="seconds into the kill phase")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cluster = PostgresCluster().start()
    serial = [0]
    rows: list[dict] = []
    try:
        for _ in range(args.repeat):
            rows.append(phase("sqlite x1", None, 1, False, args, serial))
            rows.append(phase("postgresql x1", cluster, 1, False, args, serial))
            rows.append(phase("postgresql x2", cluster, 2, False, args, serial))
            rows.append(phase("postgresql x2, kill -9", cluster, 2, True, args, serial))
    finally:
        cluster.stop()
    header = list(rows[0])
    print(" | ".join(f"{h:>22}" if h == "phase" else f"{h:>12}" for h in header))
    for row in rows:
        print(" | ".join(f"{row[h]:>22}" if h == "phase" else (f"{row[h]:>12.1f}" if isinstance(row[h], float)
                                                                 else f"{row[h]:>12}") for h in header))

    def ratio(a: str, b: str, key: str) -> float:
        return statistics.median(x[key] for x in rows if x["phase"] == a) / statistics.median(
            x[key] for x in rows if x["phase"] == b)

    print()
    print(f"/next p99, 2 replicas / 1: {ratio('postgresql x2', 'postgresql x1', 'next_p99_ms'):.2f}x; "
          f"labels/s, 2 replicas / 1: {ratio('postgresql x2', 'postgresql x1', 'labels_per_s'):.2f}x")
    print(f"/next p99, postgresql / sqlite (1 server): {ratio('postgresql x1', 'sqlite x1', 'next_p99_ms'):.2f}x; "
          f"labels/s: {ratio('postgresql x1', 'sqlite x1', 'labels_per_s'):.2f}x")
    bad = [r["phase"] for r in rows if r["double_held"] or r["lost"]]
    print("items held twice or labels lost: " + (", ".join(bad) if bad else "none, in every phase"))


if __name__ == "__main__":
    main()
