"""Replicate Lu et al. (2023) with ``alloop simulate``: random and SVM margin (US-C) on six UCI sets.

Lu, Li and Lin (2023), "Re-Benchmarking Pool-Based Active Learning for Binary Classification",
report the mean AUBC of uniform sampling and of uncertainty sampling on an RBF SVM. Their protocol
(see ``../shared/data/uci_lu2023/README.md``): per seed a stratified 40% test split, a
StandardScaler fitted on the training part, 20 random first labels, batch size 1, the whole
remaining pool as the budget, ``SVC(kernel='rbf', gamma='auto', C=1)``, margin = smallest
``|decision_function|``, AUBC = mean test accuracy over the rounds.

Every campaign runs through the ``alloop simulate`` command line, with options only; this script
builds the commands, runs them, and reads each run's ``results.json``. The same command takes any
other svmlight / CSV file (``--extra path``): its row shows alloop's values without published ones.

AUBC here is alloop's: the trapezoid area under the learning curve over [first labels, budget],
divided by its width. With one point per label the paper's plain mean over rounds differs from it by
half the first and last points' weight, under 0.001 on these sets; the table shows both.

Usage::

    python scripts/replicate_lu2023.py                      # 20 seeds, six sets, ~10 min on 2 cores
    python scripts/replicate_lu2023.py --seeds 5 --sets heart,wdbc
    python scripts/replicate_lu2023.py --extra my_set.svmlight --extra other.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from alloop.simulate.datasets import shared_data_dir

# set -> (Uniform, US-C): the paper's mean AUBC, as the data README lists them
PUBLISHED = {
    "heart": (0.8051, 0.8157),
    "ionosphere": (0.9180, 0.9300),
    "wdbc": (0.9539, 0.9652),
    "splice": (0.8075, 0.8229),
    "german": (0.7340, 0.7417),
    "diabetes": (0.7424, 0.7479),
}
TOLERANCE = 0.01

# the paper's protocol, as alloop simulate options
PROTOCOL = [
    "--strategies", "random,margin",
    "--model", "svm[kernel=rbf,gamma=auto,C=1]",
    "--calibration", "none",          # rank by the decision function, score by predict
    "--no-one-class-rescue",          # keep the SVM as fitted even when it predicts one class
    "--eval-size", "0.4",
    "--scale", "train",
    "--initial", "20",
    "--cold-start", "random",
    "--batch-sizes", "1",
    "--budget", "all",
]  # fmt: skip


def command(source: Path, seeds: int, workers: int, out: Path) -> list[str]:
    """The ``alloop simulate`` command line for one set."""
    return [sys.executable, "-m", "alloop", "simulate", str(source), *PROTOCOL,
            "--seeds", str(seeds), "--workers", str(workers), "--out", str(out)]  # fmt: skip


def mean_over_rounds(curves: Path) -> dict[str, float]:
    """The paper's AUBC: per campaign the plain mean of accuracy over its rounds, then the mean over seeds."""
    per_run: dict[tuple[str, str], list[float]] = defaultdict(list)
    with open(curves, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            per_run[(row["method"], row["seed"])].append(float(row["accuracy"]))
    by_method: dict[str, list[float]] = defaultdict(list)
    for (method, _), values in per_run.items():
        by_method[method].append(float(np.mean(values)))
    return {method: float(np.mean(values)) for method, values in by_method.items()}


def row_for(name: str, out: Path) -> dict[str, object]:
    """alloop's AUBC (with its interval) for random and margin, and the plain-mean variant."""
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows = {r["method"]: r for r in payload["rows"]}
    plain = mean_over_rounds(out / "curves.csv")
    published = PUBLISHED.get(name)
    entry: dict[str, object] = {"set": name, "seconds": payload["seconds"], "protocol": payload["datasets"][0]["protocol"]}
    for key, method, column in (("random", "alloop:random", 0), ("margin", "alloop:margin", 1)):
        aubc = rows[method]["aubc"]
        entry[key] = aubc
        entry[f"{key}_plain_mean"] = plain[method]
        if published is not None:
            entry[f"{key}_published"] = published[column]
            entry[f"{key}_diff"] = aubc["mean"] - published[column]
    if published is not None:
        entry["within"] = all(abs(entry[f"{k}_diff"]) <= TOLERANCE for k in ("random", "margin"))  # type: ignore[arg-type]
    return entry


def print_table(entries: list[dict[str, object]], seeds: int) -> None:
    """The comparison, as a Markdown table, and the verdict line."""
    print(f"\nalloop simulate vs Lu et al. (2023), {seeds} seeds; AUBC mean [95% CI] (plain mean over rounds)\n")
    print("| set | alloop random | published Uniform | diff | alloop margin | published US-C | diff | within ±0.01 |")
    print("|---|---|---|---|---|---|---|---|")
    for e in entries:
        cells = [str(e["set"])]
        for key in ("random", "margin"):
            ci = e[key]
            cells.append(f"{ci['mean']:.4f} [{ci['lo']:.4f}, {ci['hi']:.4f}] ({e[f'{key}_plain_mean']:.4f})")  # type: ignore[index]
            published = e.get(f"{key}_published")
            cells.append("–" if published is None else f"{published:.4f}")
            diff = e.get(f"{key}_diff")
            cells.append("–" if diff is None else f"{diff:+.4f}")
        cells.append({True: "yes", False: "no", None: "–"}[e.get("within")])  # type: ignore[index]
        print("| " + " | ".join(cells) + " |")
    judged = [e for e in entries if "within" in e]
    hits = sum(bool(e["within"]) for e in judged)
    if judged:
        print(f"\nboth AUBCs within ±{TOLERANCE} of the published values on {hits} of {len(judged)} sets")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "uci_lu2023", help="folder of <set>.svmlight")
    parser.add_argument("--sets", default=",".join(PUBLISHED), help="comma-separated set names in --data")
    parser.add_argument("--extra", action="append", default=[], type=Path, help="another svmlight / CSV file (repeatable)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("build/replicate_lu2023"))
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args()

    sources = [args.data.resolve() / f"{name}.svmlight" for name in args.sets.split(",") if name] + list(args.extra)
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    entries = []
    started = time.time()
    for source in sources:
        out = args.out / source.stem
        cmd = command(source, args.seeds, args.workers, out)
        print("$ " + shlex.join(["alloop", *cmd[3:]]), flush=True)
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            print(f"alloop simulate failed on {source} (exit {done.returncode})", file=sys.stderr)
            return 1
        entries.append(row_for(source.stem, out))
        print(f"  {source.stem}: random {entries[-1]['random']['mean']:.4f}, "  # type: ignore[index]
              f"margin {entries[-1]['margin']['mean']:.4f} ({time.time() - started:.0f} s so far)", flush=True)
    print_table(entries, args.seeds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
