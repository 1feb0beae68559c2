"""Bring your own modAL query strategy.

modAL query functions have the signature ``query(classifier, X_pool, n_instances)``
and call ``classifier.predict_proba(X)`` (committee ones call ``vote`` and
``vote_proba``). A strategy here never gets a model, so the wrapper hands the
function a :class:`ModalView`: a stand-in whose ``predict_proba`` returns the
given ``probs`` rows for the rows of ``X_pool`` it is asked about.

``X_pool`` is the pool's embeddings by default (``x="embeddings"``: distance-based
functions such as ``uncertainty_batch_sampling`` work on real features), or a
``(n, 1)`` column of row indices (``x="indices"``) for functions that only call
``predict_proba``. Rows passed back are matched to pool rows by identity, then by
their bytes. ``X_training`` is the labeled embeddings (``None`` when there are none).

Strategies are registered from server configuration only, never from an API
payload: :func:`load_from_config` takes entries ``"name=package.module:function"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any

import numpy as np

from alloop.strategies._linalg import check_k, empty_selection, probs_2d
from alloop.strategies.base import StrategyInputs
from alloop.strategies.registry import register

__all__ = ["ModalView", "load_from_config", "register_modal_query"]

X_MODES = ("embeddings", "indices")


class ModalView:
    """A fitted-classifier (and committee) stand-in over precomputed outputs.

    Parameters
    ----------
    inputs : the strategy inputs; ``probs`` (n, C) is required
    x_pool : (n, ...) array passed to the query function as ``X_pool``
    """

    on_transformed = False

    def __init__(self, inputs: StrategyInputs, x_pool: np.ndarray) -> None:
        self.probs = probs_2d(inputs.probs)
        self.samples = inputs.samples
        self.x_pool = x_pool
        self.classes_ = np.arange(self.probs.shape[1])
        lab = inputs.labeled_embeddings
        self.X_training = None if lab is None or len(lab) == 0 else np.asarray(lab)
        self._lookup: dict[bytes, int] | None = None

    def _rows(self, x: Any) -> np.ndarray:
        """Pool row index (m,) of each row of ``x``."""
        if x is self.x_pool:
            return np.arange(self.x_pool.shape[0])
        x = np.asarray(x).reshape(len(x), -1)
        if self._lookup is None:
            pool = np.ascontiguousarray(self.x_pool.reshape(len(self.x_pool), -1))
            self._lookup = {row.tobytes(): i for i, row in enumerate(pool)}
        row_bytes = np.ascontiguousarray(x, dtype=self.x_pool.dtype)
        try:
            return np.array([self._lookup[row.tobytes()] for row in row_bytes], dtype=np.int64)
        except KeyError:
            raise ValueError("the query function asked about rows that are not in X_pool") from None

    def predict_proba(self, x: Any, **_: Any) -> np.ndarray:
        """Probabilities (m, C) of the pool rows in ``x``."""
        return np.asarray(self.probs[self._rows(x)])

    def predict(self, x: Any, **_: Any) -> np.ndarray:
        """Argmax class (m,) of the pool rows in ``x``."""
        return self.predict_proba(x).argmax(axis=1)

    def _need_samples(self) -> np.ndarray:
        if self.samples is None:
            raise ValueError("this modAL query function needs a committee: provide samples")
        return np.asarray(self.samples)

    def vote_proba(self, x: Any, **_: Any) -> np.ndarray:
        """Member probabilities (m, S, C), the members being the S samples."""
        return self._need_samples()[:, self._rows(x)].transpose(1, 0, 2)

    def vote(self, x: Any, **_: Any) -> np.ndarray:
        """Member votes (m, S)."""
        return self.vote_proba(x).argmax(axis=2)

    def __len__(self) -> int:
        return 0 if self.samples is None else int(np.asarray(self.samples).shape[0])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(range(len(self)))


def _indices_and_scores(result: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a modAL return value (indices, or (indices, values/instances))."""
    values = None
    if isinstance(result, tuple):
        result, values = result[0], (result[1] if len(result) > 1 else None)
    raw = np.asarray(result).reshape(-1)
    idx = raw
    if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"query function returned invalid indices for a pool of {n}")
    idx, first = np.unique(idx.astype(np.int64), return_index=True)
    order = np.argsort(first)
    vals = np.asarray(values) if values is not None else None
    numeric = vals is not None and np.issubdtype(vals.dtype, np.number)
    if numeric and vals.shape == raw.shape:
        scores = vals[first[order]].astype(np.float64)
    else:
        scores = -np.arange(order.size, dtype=np.float64)  # rank order: best has the highest
    return idx[order], scores


def register_modal_query(
    name: str,
    query_fn: Callable[..., Any],
    *,
    x: str = "embeddings",
    needs: Iterable[str] = ("probs", "embeddings"),
) -> None:
    """Register modAL-style ``query_fn(classifier, X_pool, n_instances)`` as batch strategy ``name``.

    Parameters
    ----------
    name : registry name
    query_fn : modAL query function
    x : "embeddings" (X_pool = the embeddings) or "indices" (X_pool = (n, 1) row indices)
    needs : inputs the function reads (``samples`` for committee functions)
    """
    if x not in X_MODES:
        raise ValueError(f"x must be one of {X_MODES}, got {x!r}")
    if not callable(query_fn):
        raise ValueError(f"query function for {name!r} is not callable")
    needs = set(needs) | {"probs"} | ({"embeddings"} if x == "embeddings" else set())

    def select(
        inputs: StrategyInputs, k: int, *, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(check_k(k), inputs.n)
        if k == 0:
            return empty_selection()
        pool = np.asarray(inputs.embeddings) if x == "embeddings" else np.arange(inputs.n)[:, None]
        result = query_fn(ModalView(inputs, pool), pool, n_instances=k)
        idx, scores = _indices_and_scores(result, inputs.n)
        return idx[:k], scores[:k]

    select.__doc__ = f"modAL query function {getattr(query_fn, '__qualname__', query_fn)!r}."
    register(name, kind="batch", needs=needs)(select)


def load_from_config(entries: Iterable[str]) -> list[str]:
    """Register modAL query functions named in server settings.

    Each entry is ``"name=package.module:function"``, optionally followed by
    ``"?x=indices"``. Returns the names registered.

    Raises
    ------
    ValueError
        For a malformed entry, or a module or function that cannot be imported.
    """
    registered = []
    for entry in entries:
        spec, _, option = entry.partition("?")
        name, sep, target = spec.partition("=")
        module_name, colon, attr = target.partition(":")
        if not (sep and colon and name.strip() and module_name.strip() and attr.strip()):
            raise ValueError(f"modAL strategy entry {entry!r} is not 'name=package.module:function'")
        x = option.removeprefix("x=") if option else "embeddings"
        try:
            fn = getattr(import_module(module_name.strip()), attr.strip())
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load modAL strategy {entry!r}: {exc}") from exc
        register_modal_query(name.strip(), fn, x=x)
        registered.append(name.strip())
    return registered
