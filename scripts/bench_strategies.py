"""Benchmark alloop's query strategies against modAL, scikit-activeml and small-text.

Every row times one strategy on the same arrays as its peers, in this process:
a LogisticRegression-like probability matrix (softmax of a linear map, C classes,
float64 as scikit-learn's ``predict_proba`` returns), clustered float32 embeddings,
S sampled probability matrices (an ensemble, float32) and a labeled set of 100 rows.
``overlap`` is the share of our picks the peer also picked (1.00 = same selection;
blank for randomised strategies). Times are the best of up to 5 runs for anything
under a second (ours and the peers' alike), else of one run. ``target`` is the
issue's goal at N=100k: 2x the fastest peer for uncertainty scores, 10x otherwise.

Peers that are not installed are skipped with the reason. A peer predicted to take
more than ``--cap`` seconds (from its time at the previous size and its complexity)
or more than 8 GB is skipped at that size and above.

Sections::

    python scripts/bench_strategies.py --quick     # N in {10k, 100k}, d=64, k=100, peers
    python scripts/bench_strategies.py --large     # N=1M, d=64, k=1000, batch strategies
    python scripts/bench_strategies.py --memory    # N=1M, d=384: peak memory per strategy
    python scripts/bench_strategies.py --sizes 100000 --dims 64 --ks 100 --strategies margin

``--memory`` reports, per strategy, the peak of numpy allocations beyond the inputs
(tracemalloc) and the rise of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs before each strategy; it also sees BLAS and scipy buffers).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


from alloop.strategies import StrategyInputs, names, rank
from alloop.strategies.modal_adapter import ModalView

C, S, M = 10, 10, 100
CHUNK = 65_536
UNCERTAINTY = {"least_confidence", "margin", "entropy", "ratio"}
"""Pointwise uncertainty scores: the target is 2x the fastest peer (10x for the rest)."""
RANDOMISED = {"badge", "kmeans_pp", "random", "cluster_margin", "typiclust", "batchbald"}
"""No overlap column: random draws (or sampled joints, k-means seeds) differ by design."""
DIFFERENT = {"information_density", "probcover"}
"""No overlap column: our default differs from the peer's (Settles & Craven's uncertainty x
cosine density vs modAL's density alone; a ProbCover delta picked on the pool, not on X)."""


def make_data(n: int, d: int, seed: int = 0) -> StrategyInputs:
    """Clustered embeddings, softmax(linear) probs, an ensemble of S noisy heads.

    Generated in row chunks, so a 1M x 384 pool needs no temporaries of its size.
    """
    rng = np.random.default_rng(seed)
    centers = (rng.normal(size=(50, d)) * 3).astype(np.float32)
    w = (rng.normal(size=(d, C)) / np.sqrt(d)).astype(np.float32)
    heads = [((rng.normal(size=C)).astype(np.float32),
              (0.3 * rng.normal(size=(d, C)) / np.sqrt(d)).astype(np.float32)) for _ in range(S)]  # fmt: skip
    x = np.empty((n, d), dtype=np.float32)
    probs = np.empty((n, C), dtype=np.float64)
    samples = np.empty((S, n, C), dtype=np.float32)
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        xa = centers[rng.integers(50, size=b - a)]
        xa += rng.standard_normal((b - a, d), dtype=np.float32)
        x[a:b] = xa
        logits = xa @ w
        probs[a:b] = _softmax(logits.astype(np.float64))
        for s, (bias, head) in enumerate(heads):
            samples[s, a:b] = _softmax(logits + bias + xa @ head)
    lab = centers[rng.integers(50, size=M)] + rng.standard_normal((M, d), dtype=np.float32)
    return StrategyInputs(probs=probs, embeddings=x, labeled_embeddings=lab,
                          samples=samples, costs=rng.uniform(1, 5, n))  # fmt: skip


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class _Proba:
    """Fitted-classifier stand-in for peers: predict_proba of pool rows (by identity/value)."""

    def __init__(self, inputs: StrategyInputs) -> None:
        self.view = ModalView(inputs, np.asarray(inputs.embeddings))

    def predict_proba(self, x: Any, **_: Any) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.ndim == 1:  # small-text passes row indices
            return self.view.probs[x]
        return self.view.predict_proba(x)


# ---- peers: name -> (package, complexity exponent in n, fn(inputs, k) -> indices) --------


class _CommitteeView(ModalView):
    """modAL committee stand-in: ``predict_proba`` is the members' mean, as a modAL Committee's."""

    def predict_proba(self, x: Any, **_: Any) -> np.ndarray:
        return self.vote_proba(x).mean(axis=1)


def _modal(inputs: StrategyInputs, k: int, fn: str, module: str = "uncertainty") -> np.ndarray:
    mod = importlib.import_module(f"modAL.{module}")
    x = np.asarray(inputs.embeddings)
    view = (_CommitteeView if module == "disagreement" else ModalView)(inputs, x)
    out = getattr(mod, fn)(view, x, n_instances=k)
    return np.asarray(out[0] if isinstance(out, tuple) else out)


def _ska_scores(inputs: StrategyInputs, k: int, method: str) -> np.ndarray:
    from skactiveml.pool import uncertainty_scores
    from skactiveml.utils import simple_batch

    util = uncertainty_scores(np.asarray(inputs.probs, dtype=np.float64), method=method)
    return simple_batch(util, random_state=0, batch_size=k)


def _ska_xy(inputs: StrategyInputs) -> tuple[np.ndarray, np.ndarray]:
    x = np.vstack([inputs.labeled_embeddings, inputs.embeddings])
    y = np.full(len(x), np.nan)
    y[:M] = 0
    return x, y


def _ska_coreset(inputs: StrategyInputs, k: int) -> np.ndarray:
    from skactiveml.pool import CoreSet

    x, y = _ska_xy(inputs)
    return np.asarray(CoreSet(random_state=0).query(x, y, batch_size=k)) - M


def _ska_clf(inputs: StrategyInputs) -> Any:
    from skactiveml.classifier import SklearnClassifier
    from sklearn.linear_model import LogisticRegression

    clf = SklearnClassifier(LogisticRegression(), classes=np.arange(C))
    clf.predict_proba = _Proba(inputs).predict_proba
    return clf


def _ska_badge(inputs: StrategyInputs, k: int) -> np.ndarray:
    from skactiveml.pool import Badge

    x = np.asarray(inputs.embeddings)
    y = np.full(len(x), np.nan)
    return np.asarray(Badge(random_state=0).query(x, y, _ska_clf(inputs), fit_clf=False, batch_size=k))


def _ska_query(cls: str, inputs: StrategyInputs, k: int, **kw: Any) -> np.ndarray:
    pool = importlib.import_module("skactiveml.pool")
    x, y = _ska_xy(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(getattr(pool, cls)(random_state=0, **kw).query(x, y, batch_size=k)) - M


def _ska_bald(inputs: StrategyInputs, k: int, batch: bool) -> np.ndarray:
    from skactiveml.pool import batch_bald
    from skactiveml.utils import simple_batch

    probas = np.asarray(inputs.samples, dtype=np.float64)
    if batch:
        return np.nanargmax(batch_bald(probas, batch_size=k, random_state=0), axis=1)
    return simple_batch(batch_bald(probas, batch_size=1, random_state=0)[0], 0, batch_size=k)


def _ska_fn(name: str, inputs: StrategyInputs, k: int) -> np.ndarray:
    pool = importlib.import_module("skactiveml.pool")
    from skactiveml.utils import simple_batch

    samples = np.asarray(inputs.samples, dtype=np.float64)
    if name == "vote_entropy":
        util = pool.vote_entropy(samples.argmax(axis=2).T, classes=np.arange(C))
    else:
        util = pool.average_kl_divergence(samples)
    return simple_batch(util, random_state=0, batch_size=k)


def _st_confidence(inputs: StrategyInputs, k: int, cls: str) -> np.ndarray:
    import small_text

    pool = np.arange(inputs.n)
    return getattr(small_text, cls)().query(_Proba(inputs), pool, pool, np.empty(0, int), None, n=k)


def _st_coreset(inputs: StrategyInputs, k: int) -> np.ndarray:
    from small_text.query_strategies.coresets import greedy_coreset

    x = np.vstack([inputs.embeddings, inputs.labeled_embeddings])
    n = inputs.n
    return greedy_coreset(x, np.arange(n), np.arange(n, n + M), k, distance_metric="euclidean")


def _st_bald(inputs: StrategyInputs, k: int) -> np.ndarray:
    from small_text.query_strategies.bayesian import _bald

    scores = _bald(np.asarray(inputs.samples).transpose(1, 0, 2))
    return np.argpartition(-scores, k - 1)[:k]


Peer = tuple[str, str, float, Callable[[StrategyInputs, int], np.ndarray]]
PEERS: dict[str, list[Peer]] = {
    "least_confidence": [
        ("modAL uncertainty_sampling", "modAL", 1, lambda i, k: _modal(i, k, "uncertainty_sampling")),
        ("skactiveml UncertaintySampling", "skactiveml", 1, lambda i, k: _ska_scores(i, k, "least_confident")),
        ("small-text LeastConfidence", "small_text", 1, lambda i, k: _st_confidence(i, k, "LeastConfidence")),
    ],
    "margin": [
        ("modAL margin_sampling", "modAL", 1, lambda i, k: _modal(i, k, "margin_sampling")),
        ("skactiveml UncertaintySampling", "skactiveml", 1, lambda i, k: _ska_scores(i, k, "margin_sampling")),
        ("small-text BreakingTies", "small_text", 1, lambda i, k: _st_confidence(i, k, "BreakingTies")),
    ],
    "entropy": [
        ("modAL entropy_sampling", "modAL", 1, lambda i, k: _modal(i, k, "entropy_sampling")),
        ("skactiveml UncertaintySampling", "skactiveml", 1, lambda i, k: _ska_scores(i, k, "entropy")),
        ("small-text PredictionEntropy", "small_text", 1, lambda i, k: _st_confidence(i, k, "PredictionEntropy")),
    ],
    "vote_entropy": [
        ("modAL vote_entropy_sampling", "modAL", 1, lambda i, k: _modal(i, k, "vote_entropy_sampling", "disagreement")),
        ("skactiveml vote_entropy", "skactiveml", 1, lambda i, k: _ska_fn("vote_entropy", i, k)),
    ],
    "consensus_entropy": [
        ("modAL consensus_entropy_sampling", "modAL", 1, lambda i, k: _modal(i, k, "consensus_entropy_sampling", "disagreement")),
    ],
    "max_disagreement": [
        ("modAL max_disagreement_sampling", "modAL", 1, lambda i, k: _modal(i, k, "max_disagreement_sampling", "disagreement")),
    ],
    "average_kl": [("skactiveml average_kl_divergence", "skactiveml", 1, lambda i, k: _ska_fn("kl", i, k))],
    "bald": [
        ("skactiveml GreedyBALD", "skactiveml", 1, lambda i, k: _ska_bald(i, k, batch=False)),
        ("small-text BALD", "small_text", 1, _st_bald),
    ],
    "batchbald": [("skactiveml BatchBALD", "skactiveml", 1, lambda i, k: _ska_bald(i, k, batch=True))],
    "kcenter_greedy": [
        ("skactiveml CoreSet", "skactiveml", 1, _ska_coreset),
        ("small-text GreedyCoreset", "small_text", 1, _st_coreset),
    ],
    "ranked_batch": [("modAL ranked batch", "modAL", 1, lambda i, k: _modal(i, k, "uncertainty_batch_sampling", "batch"))],
    "badge": [("skactiveml Badge", "skactiveml", 1, _ska_badge)],
    "typiclust": [("skactiveml TypiClust", "skactiveml", 1, lambda i, k: _ska_query("TypiClust", i, k))],
    "probcover": [("skactiveml ProbCover", "skactiveml", 2, lambda i, k: _ska_query("ProbCover", i, k))],
    "information_density": [
        ("modAL information_density", "modAL", 2,
         lambda i, k: np.argsort(-importlib.import_module("modAL.density").information_density(i.embeddings))[:k]),
    ],  # fmt: skip
}
MEMORY_EXPONENT_2 = 8e9  # bytes: peers with n^2 memory are skipped when 8 n^2 exceeds this


def timed(fn: Callable[[], Any], repeat: int = 5, budget: float = 1.0) -> tuple[float, Any]:
    """Best time of up to ``repeat`` runs, stopping once the runs have used ``budget`` s."""
    best, out, spent = float("inf"), None, 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent >= budget:
            break
    return best, out


def run(sizes: list[int], dims: list[int], ks: list[int], only: list[str], peers: bool, cap: float) -> None:
    missing = {pkg: _missing(pkg) for pkg in ("modAL", "skactiveml", "small_text")}
    for pkg, why in missing.items():
        if why and peers:
            print(f"# peer package {pkg} skipped: {why}")
    history: dict[tuple[str, int, int], tuple[int, float]] = {}  # (peer, d, k) -> (n, seconds)
    summary: list[str] = []
    print("| strategy | N | d | k | ours s | peer | peer s | speedup | overlap |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for d in dims:
        for n in sorted(sizes):
            inputs = make_data(n, d)
            for k in ks:
                for name in only:
                    summary += _row(name, inputs, n, d, k, peers, missing, history, cap)
    if summary:
        print("\nTargets at N=100k (fastest peer that ran):\n")
        print("| strategy | d | k | ours s | fastest peer | peer s | speedup | target | met |")
        print("|---|---:|---:|---:|---|---:|---:|---:|---|")
        print("\n".join(summary))


def _missing(pkg: str) -> str:
    try:
        importlib.import_module(pkg)
        return ""
    except Exception as exc:  # report any import failure as the reason to skip
        return f"not importable ({type(exc).__name__}: {exc})"


def _row(name: str, inputs: StrategyInputs, n: int, d: int, k: int, peers: bool,
         missing: dict[str, str], history: dict, cap: float) -> list[str]:  # fmt: skip
    """Print one table row per peer (one row when there is none); the target line at 100k.

    Ours is timed before and after the peers (the best of both), so a burst of load
    from other processes on a shared machine does not fall on one side only.
    """

    def ours_run() -> tuple[np.ndarray, np.ndarray]:
        return rank(name, inputs, k, rng=np.random.default_rng(0))

    ours_s, (ours, _) = timed(ours_run)
    rows = PEERS.get(name, []) if peers else []
    results = []
    for label, pkg, expo, fn in rows:
        skip = missing[pkg] or _predict_skip(history.get((label, d, k)), n, expo, cap)
        if skip:
            results.append((label, None, skip, None))
            continue
        peer_s, theirs = timed(lambda: fn(inputs, k))
        history[(label, d, k)] = (n, peer_s)
        overlap = "" if name in RANDOMISED | DIFFERENT else f"{np.isin(ours, theirs).mean():.2f}"
        results.append((label, peer_s, "", overlap))
    if results and ours_s < 10:
        ours_s = min(ours_s, timed(ours_run)[0])
    base = f"| {name} | {n:,} | {d} | {k} | {ours_s:.4f} |"
    if not rows:
        print(f"{base} — | | | |", flush=True)
    fastest: tuple[float, str] | None = None
    for label, peer_s, skip, overlap in results:
        if peer_s is None:
            print(f"{base} {label} | skipped: {skip} | | |", flush=True)
            continue
        fastest = min(fastest or (peer_s, label), (peer_s, label))
        print(f"{base} {label} | {peer_s:.4f} | {peer_s / ours_s:,.1f}x | {overlap} |", flush=True)
    if fastest is None or n != 100_000:
        return []
    target = 2.0 if name in UNCERTAINTY else 10.0
    ratio = fastest[0] / ours_s
    return [f"| {name} | {d} | {k} | {ours_s:.4f} | {fastest[1]} | {fastest[0]:.4f} | "
            f"{ratio:,.1f}x | {target:.0f}x | {'yes' if ratio >= target else 'NO'} |"]  # fmt: skip


def _predict_skip(prev: tuple[int, float] | None, n: int, expo: float, cap: float) -> str:
    if expo >= 2 and 8.0 * n * n > MEMORY_EXPONENT_2:
        return f"needs ~{8 * n * n / 1e9:.0f} GB (n^2 distances)"
    if prev is None:
        return ""
    if prev[0] == n:
        return "" if prev[1] <= cap else f"took {prev[1]:.0f} s > cap"
    predicted = prev[1] * (n / prev[0]) ** expo
    return f"predicted {predicted:.0f} s > {cap:.0f} s cap" if predicted > cap else ""


def _vm(key: str) -> int:
    """A ``/proc/self/status`` size in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory(n: int, d: int, ks: list[int], only: list[str], limit_gb: float) -> None:
    """Peak memory of each strategy beyond its inputs, at N x d."""
    inputs = make_data(n, d)
    held = sum(a.nbytes for a in (inputs.probs, inputs.embeddings, inputs.samples, inputs.costs))
    print(f"# inputs: {n:,} x {d} float32 embeddings {inputs.embeddings.nbytes / 1e9:.2f} GB, "
          f"all inputs {held / 1e9:.2f} GB; limit {limit_gb:.1f} GB beyond them")  # fmt: skip
    print("| strategy | N | d | k | s | numpy peak GB | RSS peak rise GB | under limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    tracemalloc.start()
    for k in ks:
        for name in only:
            rss = _vm("VmRSS")
            reset = _reset_peak_rss()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            start = time.perf_counter()
            rank(name, inputs, k, rng=np.random.default_rng(0))
            took = time.perf_counter() - start
            peak = (tracemalloc.get_traced_memory()[1] - base) / 1e9
            rise = (_vm("VmHWM") - rss) / 1e9 if reset else float("nan")
            ok = max(peak, rise if reset else 0.0) < limit_gb
            print(f"| {name} | {n:,} | {d} | {k} | {took:.2f} | {peak:.3f} | {rise:.3f} | "
                  f"{'yes' if ok else 'NO'} |", flush=True)  # fmt: skip
    tracemalloc.stop()


BATCH = ["kcenter_greedy", "ranked_batch", "badge", "kmeans_pp", "typiclust", "probcover",
         "cluster_margin", "prefilter", "batchbald"]  # fmt: skip
"""The --large section: every batch (diversity) strategy."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N in {10k, 100k}, d=64, k=100")
    parser.add_argument("--large", action="store_true",
                        help="N=1M, d=64, k=1000, batch strategies, no peers (their 1M times: the issue)")  # fmt: skip
    parser.add_argument("--memory", action="store_true", help="peak memory per strategy at N=1M, d=384")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[10_000, 100_000, 1_000_000])  # fmt: skip
    parser.add_argument("--dims", type=lambda s: [int(x) for x in s.split(",")], default=[64, 384])
    parser.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=[100, 1000])
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=None,
                        help="comma-separated names (default: every registered strategy)")  # fmt: skip
    parser.add_argument("--no-peers", action="store_true", help="time alloop only")
    parser.add_argument("--cap", type=float, default=60.0, help="peer time cap in seconds")
    parser.add_argument("--limit-gb", type=float, default=2.0, help="--memory: allowed peak beyond the inputs")
    args = parser.parse_args(argv)
    only = args.strategies or names()
    if args.memory:
        sizes = args.sizes if "--sizes" in (argv or sys.argv) else [1_000_000]
        dims = args.dims if "--dims" in (argv or sys.argv) else [384]
        ks = args.ks if "--ks" in (argv or sys.argv) else [100]
        memory(sizes[0], dims[0], ks, only, args.limit_gb)
        return
    if args.quick:
        args.sizes, args.dims, args.ks = [10_000, 100_000], [64], [100]
    if args.large:
        args.sizes, args.dims, args.ks, args.no_peers = [1_000_000], [64], [1000], True
        only = args.strategies or BATCH
    run(args.sizes, args.dims, args.ks, only, not args.no_peers, args.cap)


if __name__ == "__main__":
    main()
