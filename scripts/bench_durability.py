#!/usr/bin/env python
"""Durability under SIGKILL: 100 kill -9 rounds at random moments of label traffic.

Prints one line per round and a summary table: acknowledged labels, labels lost (must be 0),
rounds whose database failed ``PRAGMA integrity_check`` (must be 0), restart time.

    .venv/bin/python scripts/bench_durability.py --rounds 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path


from alloop.chaos import KillReport, kill_rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--annotators", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def progress(round_: int, report: KillReport) -> None:
        print(f"round {round_ + 1:>4}/{args.rounds}: {report.acknowledged:>6} acknowledged, "
              f"{sum(report.lost.values())} lost, {len(report.corrupt_rounds)} corrupt, "
              f"restart {report.restart_seconds[-1]:.2f}s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        report = kill_rounds(Path(tmp) / "data", args.rounds, seed=args.seed, annotators=args.annotators,
                             progress=progress)
    rows = {
        "rounds": report.rounds, "acknowledged labels": report.acknowledged,
        "labels stored at end": report.labeled_at_end, "labels lost": sum(report.lost.values()),
        "integrity failures": len(report.corrupt_rounds),
        "restart median s": f"{statistics.median(report.restart_seconds):.2f}",
        "restart max s": f"{max(report.restart_seconds):.2f}",
    }
    print()
    for key, value in rows.items():
        print(f"{key:>22} | {value}")
    return 1 if report.lost or report.corrupt_rounds else 0


if __name__ == "__main__":
    sys.exit(main())
