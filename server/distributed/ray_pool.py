"""Ray tasks for pool scoring and actors for embedding; see :mod:`alloop.distributed`.

Chunks go out at most ``2 x`` the cluster's CPUs at a time, so the driver never holds more than
that many chunks of inputs and outputs beside the gathered result; the model goes to the object
store once per round and every task reads it from there. Results come back in pool order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import ray

from alloop.distributed import ClusterUnavailable

__all__ = ["RayPool"]

log = logging.getLogger("alloop.distributed")


@ray.remote
def _outputs(model: Any, inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A chunk's probabilities (and decision values for a model in decision mode)."""
    if getattr(model, "decision_mode", False):
        decisions = model.decisions(inputs)
        return model.probs_from_decisions(decisions), decisions
    return np.asarray(model.predict_proba(inputs), dtype=np.float32), None


@ray.remote
def _samples(model: Any, inputs: Any) -> np.ndarray:
    return np.asarray(model.sample_proba(inputs), dtype=np.float32)


@ray.remote
class _Encoder:
    """One loaded text encoder; embeds the texts it is sent."""

    def __init__(self, spec: dict[str, Any] | None) -> None:
        from alloop.loop.embedding import load_encoder

        self.encoder = load_encoder(spec)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(texts), dtype=np.float32)


@contextmanager
def _reasons() -> Iterator[None]:
    """A task's own error (the model's, the encoder's) raised as itself; anything else the cluster did as
    :class:`ClusterUnavailable` (the round then runs here)."""
    try:
        yield
    except ray.exceptions.RayTaskError as exc:
        raise exc.as_instanceof_cause() from None
    except Exception as exc:
        raise ClusterUnavailable(f"{type(exc).__name__}: {exc}") from exc


class RayPool:
    """This process's connection to a Ray cluster."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._encoders: dict[str, list[Any]] = {}

    @classmethod
    def connect(cls, address: str) -> RayPool:
        if not ray.is_initialized():
            ray.init(address=address, namespace="alloop", logging_level=logging.WARNING, log_to_driver=False)
        return cls(address)

    def close(self) -> None:
        """Disconnect (the next :meth:`connect` starts afresh)."""
        self._encoders.clear()
        ray.shutdown()

    @property
    def cpus(self) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _gather(self, task: Callable[..., Any], model: Any, chunks: Iterable[Any]) -> list[Any]:
        """``task(model, chunk)`` for every chunk, at most 2 x CPUs in flight; results in chunk order."""
        with _reasons():
            return self._run(task, model, chunks)

    def _run(self, task: Callable[..., Any], model: Any, chunks: Iterable[Any]) -> list[Any]:
        model_ref = ray.put(model)
        window = 2 * self.cpus
        refs: list[Any] = []
        running: list[Any] = []
        for chunk in chunks:
            if len(running) >= window:  # the next chunk's inputs are read only once a task is done
                _, running = ray.wait(running, num_returns=1)
            ref = task.remote(model_ref, chunk)
            refs.append(ref)
            running.append(ref)
        return ray.get(refs)

    def outputs(self, model: Any, chunks: Iterator[Any]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Each chunk's (probabilities, decision values or None)."""
        return self._gather(_outputs, model, chunks)

    def samples(self, model: Any, chunks: Iterator[Any]) -> list[np.ndarray]:
        """Each chunk's (S, rows, C) sampled probabilities."""
        return self._gather(_samples, model, chunks)

    def encode(self, spec: dict[str, Any] | None, texts: list[str]) -> np.ndarray:
        """(len(texts), d) vectors, the texts split evenly over one encoder actor per CPU."""
        with _reasons():
            return self._encode(spec, texts)

    def _encode(self, spec: dict[str, Any] | None, texts: list[str]) -> np.ndarray:
        key = json.dumps(spec, sort_keys=True)
        actors = self._encoders.get(key)
        if actors is None:
            # An actor takes a CPU to be placed and none while it lives (Ray's default): actors that held
            # their CPUs would leave no room for the scoring tasks of the rounds that follow.
            actors = self._encoders[key] = [_Encoder.options(scheduling_strategy="SPREAD").remote(spec)
                                            for _ in range(self.cpus)]
        parts = [part for part in np.array_split(np.arange(len(texts)), len(actors)) if part.size]
        refs = [actor.encode.remote([texts[i] for i in part]) for actor, part in zip(actors, parts)]
        return np.concatenate(ray.get(refs), axis=0)
