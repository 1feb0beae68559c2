"""Per-round cost of a simulated batch-1 campaign against a plain scikit-learn loop with the same model.

The paper protocol of ``scripts/replicate_lu2023.py`` (SVC rbf, gamma='auto', margin = smallest
``|decision_function|``, batch 1, the whole pool) on the UCI sets in ``../shared/data/uci_lu2023``.
Per set and repeat, in alternating order (which one runs first flips every repeat):

- **plain**: the loop a researcher writes: fit ``SVC`` on the labeled rows, ``predict`` the test
  split, pick the unlabeled row with the smallest ``|decision_function|``, until the pool is empty;
- **alloop**: :func:`alloop.simulate.runner.run_campaign`, the same campaign through the server's
  store, controller and strategy registry (what ``alloop simulate`` runs per seed), with the same
  first labels; its learning curve is checked to be the plain loop's, point for point, and its
  labeling order item for item (where two items tie exactly, duplicate rows on splice, each loop
  may take the other one: the table says at how many labels the first such tie fell);
- **alloop, round files**: the same with each round's model pickle and pool predictions written,
  as a served campaign does (``alloop simulate --round-files``, the behaviour before this switch);
- **alloop, calibrated**: ``calibration=sigmoid``, the old default for an SVM (3-fold
  ``CalibratedClassifierCV`` every round), for scale only: it is a different model.

The table shows milliseconds per round (median over repeats) and each variant's ratio to plain.
By default the clock is the thread's CPU time (``--clock cpu``): every variant runs in this one
thread with one BLAS thread, so CPU time is the work done, and it holds when other processes share
the cores (wall time doubled for both on a loaded 2-core machine, and the ratios moved by ±0.3).
``--clock wall`` measures elapsed time instead.

Usage::

    python scripts/bench_sim_overhead.py                   # six sets, 3 repeats
    python scripts/bench_sim_overhead.py --sets heart,german --repeats 5 --no-calibrated
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from alloop.simulate.datasets import DataRef, load_dataset, make_split, shared_data_dir
from alloop.simulate.grid import Grid
from alloop.simulate.runner import CampaignSpec, Split, run_campaign

SETS = ("heart", "ionosphere", "wdbc", "diabetes", "german", "splice")
MODEL = {"name": "svm", "params": {"kernel": "rbf", "gamma": "auto", "C": 1}, "calibration": "none",
         "one_class_rescue": False}  # fmt: skip


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def plain_loop(split: Split, first: list[int]) -> tuple[list[int], list[float]]:
    """The reference loop: labeling order and test accuracy per round."""
    labeled = list(first)
    open_ = np.ones(split.y_pool.size, dtype=bool)
    open_[labeled] = False
    accuracy = []
    while True:
        svc = SVC(kernel="rbf", gamma="auto", C=1).fit(split.X_pool[labeled], split.y_pool[labeled])
        accuracy.append(float(np.mean(svc.predict(split.X_eval) == split.y_eval)))
        rest = np.flatnonzero(open_)
        if rest.size == 0:
            return labeled, accuracy
        pick = int(rest[np.argmin(np.abs(svc.decision_function(split.X_pool[rest])))])
        labeled.append(pick)
        open_[pick] = False


def first_difference(split: Split, mine: list[int], theirs: list[int]) -> str:
    """``"same"``, or where the two labeling orders part and whether it was an exact tie in |decision|."""
    k = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), None)
    if k is None:
        return "same"
    svc = SVC(kernel="rbf", gamma="auto", C=1).fit(split.X_pool[theirs[:k]], split.y_pool[theirs[:k]])
    a, b = np.abs(svc.decision_function(split.X_pool[[mine[k], theirs[k]]]))
    return f"tie at {k} labels" if a == b else f"differ at {k} labels ({a:.3g} vs {b:.3g})"


def split_for(name: str, seed: int) -> Split:
    ref = DataRef(path=str(shared_data_dir() / "uci_lu2023" / f"{name}.svmlight"))
    data = load_dataset(ref)
    grid = Grid(data=ref, budget="all", eval_size=0.4, scale="train", initial=20)
    return make_split(data, seed, grid.protocol(data.protocol, data.y.size, len(data.labels)))


def measure(name: str, repeats: int, calibrated: bool, clock: Any = time.thread_time) -> dict[str, Any]:
    """Seconds per round of each variant (a list over repeats) and whether alloop followed the plain loop."""
    split = split_for(name, seed=0)
    spec = CampaignSpec(strategy="margin", seed=0, batch_size=1, budget=int(split.y_pool.size), initial=20,
                        model=MODEL)
    variants = {"alloop": spec, "alloop, round files": replace(spec, round_files=True)}
    if calibrated:
        variants["alloop, calibrated"] = replace(spec, model={**MODEL, "calibration": "sigmoid",
                                                              "one_class_rescue": True})
    first = run_campaign(split, spec)  # also warms imports and caches
    order, accuracy = plain_loop(split, first["labeled"][:20])
    same_curve = [p["accuracy"] for p in first["curve"]] == accuracy
    picks = first_difference(split, first["labeled"], order)
    times: dict[str, list[float]] = {"plain": [], **{k: [] for k in variants}}
    rounds = len(first["curve"])
    for r in range(repeats):
        order = ["plain", *variants] if r % 2 == 0 else [*variants, "plain"]
        for variant in order:
            started = clock()
            if variant == "plain":
                plain_loop(split, first["labeled"][:20])
            else:
                run_campaign(split, variants[variant])
            times[variant].append((clock() - started) / rounds)
    return {"set": name, "pool": int(split.y_pool.size), "rounds": rounds, "same_curve": same_curve, "picks": picks,
            "times": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibrated", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: this thread's CPU time (robust to other load); wall: elapsed time")
    args = parser.parse_args()
    print("| set | pool | rounds | plain ms/round | alloop ms/round | alloop ÷ plain | round files ÷ plain "
          "| calibrated ÷ plain | same curve | labeling order |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):  # as alloop simulate's workers run: one BLAS thread each
        for name in args.sets.split(","):
            m = measure(name, args.repeats, args.calibrated, CLOCKS[args.clock])
            med = {k: statistics.median(v) for k, v in m["times"].items()}
            ratio = lambda k: f"{med[k] / med['plain']:.2f}" if k in med else "–"  # noqa: E731
            print(f"| {name} | {m['pool']} | {m['rounds']} | {1000 * med['plain']:.2f} | {1000 * med['alloop']:.2f} "
                  f"| {ratio('alloop')} | {ratio('alloop, round files')} | {ratio('alloop, calibrated')} "
                  f"| {'yes' if m['same_curve'] else 'no'} | {m['picks']} |", flush=True)


if __name__ == "__main__":
    main()
