"""The same protocol run by the peers' own loops: modAL's ``ActiveLearner`` and small-text's
``PoolBasedActiveLearner``, for the strategies they ship.

Same split (:func:`~alloop.simulate.datasets.make_split`), same first labels (the
server's random cold start: ``default_rng([seed, 0]).permutation(pool)``), same model
(the estimator :func:`alloop.models.build_model` builds), same batch size and budget, and the
same eval metrics (:func:`alloop.loop.metrics.evaluate`). Only the loop and the query
strategy are the peer's. Where the first labels hold one class only (sms_spam, seed 6: twenty
'ham'), the peers' estimator does what alloop's model adapter does, predicting that class with
certainty until a second class arrives; a plain scikit-learn estimator refuses to fit there.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from alloop.loop.coldstart import cold_start_order
from alloop.loop.metrics import evaluate
from alloop.simulate.datasets import DataRef, Protocol, load_dataset, make_split
from alloop.simulate.grid import Job
from alloop.simulate.runner import Split

__all__ = ["PEERS", "peer_job", "peer_jobs"]

# library -> strategy -> the alloop strategy it corresponds to
PEERS: dict[str, dict[str, str]] = {
    "modAL": {
        "uncertainty_sampling": "least_confidence",
        "margin_sampling": "margin",
        "entropy_sampling": "entropy",
        "uncertainty_batch_sampling": "ranked_batch",
    },
    "small-text": {
        "RandomSampling": "random",
        "LeastConfidence": "least_confidence",
        "BreakingTies": "margin",
        "PredictionEntropy": "entropy",
        "GreedyCoreset": "kcenter_greedy",
    },
}


# named explicitly: small-text changed the default from cosine in 1.2 (and warns about it either way)
_SMALL_TEXT_ARGS: dict[str, dict[str, Any]] = {"GreedyCoreset": {"distance_metric": "euclidean"}}


class OneClassSafe(ClassifierMixin, BaseEstimator):
    """``estimator``, except that labels of one class make it predict that class with certainty.

    Then ``classes_`` is every class and ``predict_proba`` has ``n_classes`` columns (what
    alloop's :class:`alloop.models.sklearn.SklearnModel` answers), so margin-style strategies, which
    need two columns, still run. With two classes or more it is ``estimator`` itself.
    """

    def __init__(self, estimator: Any = None, n_classes: int = 2) -> None:
        self.estimator = estimator
        self.n_classes = n_classes

    def fit(self, X: np.ndarray, y: np.ndarray, **fit_params: Any) -> OneClassSafe:
        y = np.asarray(y)
        seen = np.unique(y)
        if seen.size < 2:
            self.fitted_, self.only_ = None, seen[0]
            self.classes_ = np.arange(self.n_classes)
        else:
            self.fitted_ = clone(self.estimator).fit(X, y, **fit_params)
            self.classes_ = self.fitted_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.fitted_ is not None:
            return self.fitted_.predict_proba(X)
        out = np.zeros((np.asarray(X).shape[0], self.n_classes))
        out[:, self.only_] = 1.0
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _estimator(model: dict[str, Any], n_classes: int, seed: int) -> Any:
    from alloop.models import build_model

    template = getattr(build_model(model, n_classes, seed), "template", None)
    if template is None:
        raise ValueError(f"peers need a scikit-learn model; {model.get('name')!r} is not one")
    return OneClassSafe(clone(template), n_classes)


def _point(estimator: Any, split: Split, labels: int) -> dict[str, Any]:
    """One curve point with the server's metric definitions."""
    probs = np.zeros((split.y_eval.size, len(split.labels)), dtype=np.float32)
    probs[:, estimator.classes_] = estimator.predict_proba(split.X_eval)
    metrics = evaluate(split.y_eval, probs, split.labels)
    return {"labels": labels, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _batches(initial: int, batch: int, budget: int, pool: int) -> list[int]:
    sizes, total = [], min(initial, budget, pool)
    while total < min(budget, pool):
        step = min(batch, budget - total, pool - total)
        sizes.append(step)
        total += step
    return sizes


def _teach(learner: Any, X: np.ndarray, y: np.ndarray) -> None:
    """``ActiveLearner.teach`` without its input check: modAL 0.4.2 passes ``force_all_finite``
    to ``check_X_y``, which scikit-learn 1.8 removed. Same effect: append, refit on all."""
    learner.X_training = np.vstack([learner.X_training, X])
    learner.y_training = np.concatenate([learner.y_training, y])
    learner._fit_to_known()


def _modal(
    split: Split, strategy: str, start: np.ndarray, sizes: list[int], estimator: Any
) -> list[dict[str, Any]]:
    import modAL.batch
    import modAL.uncertainty
    from modAL.models import ActiveLearner

    query = getattr(
        modAL.batch if strategy == "uncertainty_batch_sampling" else modAL.uncertainty, strategy
    )
    learner = ActiveLearner(
        estimator=estimator,
        query_strategy=query,
        X_training=split.X_pool[start],
        y_training=split.y_pool[start],
    )
    remaining = np.setdiff1d(np.arange(split.y_pool.size), start)
    curve = [_point(learner.estimator, split, start.size)]
    for size in sizes:
        picked, _ = learner.query(split.X_pool[remaining], n_instances=size)
        chosen = remaining[np.asarray(picked, dtype=np.int64)]
        _teach(learner, split.X_pool[chosen], split.y_pool[chosen])
        remaining = np.setdiff1d(remaining, chosen)
        curve.append(_point(learner.estimator, split, curve[-1]["labels"] + chosen.size))
    return curve


def _embeddings(X: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """The features in the order small-text's embedding strategies expect: unlabeled rows, then labeled."""
    unlabeled = np.setdiff1d(np.arange(X.shape[0]), labeled)
    return X[np.concatenate([unlabeled, labeled])]


def _small_text(
    split: Split, strategy: str, start: np.ndarray, sizes: list[int], estimator: Any
) -> list[dict[str, Any]]:
    import small_text
    from small_text import PoolBasedActiveLearner, SklearnClassifierFactory, SklearnDataset

    n_classes = len(split.labels)
    dataset = SklearnDataset(split.X_pool, split.y_pool, target_labels=np.arange(n_classes))
    learner = PoolBasedActiveLearner(
        SklearnClassifierFactory(estimator, n_classes),
        getattr(small_text, strategy)(**_SMALL_TEXT_ARGS.get(strategy, {})),
        dataset,
    )
    learner.initialize_data(start, split.y_pool[start])
    curve = [_point(learner.classifier.model, split, start.size)]
    for size in sizes:
        kwargs = (
            {"embeddings": _embeddings(split.X_pool, learner.indices_labeled)}
            if strategy == "GreedyCoreset"
            else {}
        )
        chosen = np.asarray(
            learner.query(num_samples=size, query_strategy_kwargs=kwargs), dtype=np.int64
        )
        learner.update(split.y_pool[chosen])
        curve.append(_point(learner.classifier.model, split, curve[-1]["labels"] + chosen.size))
    return curve


def _small_text_quiet(*args: Any) -> list[dict[str, Any]]:
    """small-text 1.4 warns about its own internals (a deprecated label helper it calls on every
    dataset copy, GreedyCoreset's changed default metric); nothing a caller can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"The function \w+ has been deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings(
            "ignore", message="Default distance metric has changed", category=UserWarning
        )
        return _small_text(*args)


_LOOPS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "modAL": _modal,
    "small-text": _small_text_quiet,
}


def peer_job(
    ref: DataRef,
    protocol: Protocol,
    library: str,
    strategy: str,
    seed: int,
    batch: int,
    model: dict[str, Any],
) -> dict[str, Any]:
    """One peer campaign on the seed's split; the result has the shape of an alloop campaign's."""
    started = time.perf_counter()
    split = make_split(load_dataset(ref), seed, protocol)
    pool = split.y_pool.size
    start = cold_start_order(
        split.X_pool,
        min(protocol.initial, pool),
        rule="random",
        rng=np.random.default_rng([seed, 0]),
    )
    sizes = _batches(start.size, batch, protocol.budget, pool)
    curve = _LOOPS[library](
        split, strategy, start, sizes, _estimator(model, len(split.labels), seed)
    )
    return {
        "source": library,
        "method": f"{library}:{strategy}",
        "strategy": strategy,
        "equivalent": PEERS[library][strategy],
        "seed": seed,
        "batch_size": batch,
        "budget": protocol.budget,
        "initial": int(start.size),
        "curve": curve,
        "stop_reason": "budget_exhausted",
        "seconds": time.perf_counter() - started,
    }


def peer_jobs(
    ref: DataRef,
    protocol: Protocol,
    seeds: tuple[int, ...],
    batch_sizes: tuple[int, ...],
    model: dict[str, Any],
    libraries: dict[str, tuple[str, ...]] | None = None,
) -> list[Job]:
    """Jobs for every (library, strategy, batch size, seed); ``libraries`` narrows the strategies."""
    chosen = libraries or {lib: tuple(strategies) for lib, strategies in PEERS.items()}
    return [
        Job(
            ("peer", lib, strategy, batch, seed),
            peer_job,
            (ref, protocol, lib, strategy, seed, batch, model),
        )
        for lib, strategies in chosen.items()
        for strategy in strategies
        for batch in batch_sizes
        for seed in seeds
    ]
