"""The same protocol run by the peers' own loops: modAL's ``ActiveLearner`` and small-text's
``PoolBasedActiveLearner``, for the strategies they ship.

Same split (:func:`~alloop.simulate.datasets.make_split`) as float32 vectors (what alloop's feature
file holds), same first labels (the server's random cold start: ``default_rng([seed, 0])
.permutation(pool)``), same model (the estimator :func:`alloop.models.build_model` builds, seeded
``seed + version`` for each model version as alloop seeds it, with float32 probabilities as alloop's
adapter gives them), same batch size and budget, and the same eval metrics
(:func:`alloop.loop.metrics.evaluate`). The loop and the query strategy's scores are the peer's.
Where the first labels hold one class only (sms_spam, seed 6: twenty 'ham'), the peers' estimator
does what alloop's model adapter does, predicting that class with certainty until a second class
arrives; a plain scikit-learn estimator refuses to fit there.

Why alloop's ``margin`` and modAL's ``margin_sampling`` curves parted, and what :class:`AlloopRules`
now mirrors (measured with logistic regression and the catalog protocols):

- **alloop's one-class rescue** (:mod:`alloop.loop.training`). Where a model predicts one class over
  the whole pool although the labels hold several, alloop refits it with balanced class weights, and
  where it still does (or the labels hold one class) ranks that round by the cold-start rule. The
  peers kept the plain model. On sst2 (movie-review sentences like MR) with MiniLM vectors, the
  first labels of seeds 4 and 6 are 13 and 7 of the two classes, the plain model calls every pool
  item one class (accuracy 0.48 at 20 labels; alloop's refit: 0.639 and 0.585): all 25 picks of the
  first round differed and the curves parted from the first point (up to 0.159 accuracy; at 600
  labels 0.778 vs 0.797 and 0.812 vs 0.793). The other 8 seeds agreed point for point. Hashing
  vectors: sst2 seeds 1 and 2 of 0-2; sms_spam seed 6 (one class: alloop's cold-start rule) parted
  at 40 labels. Peers now rescue as alloop does, unless the model spec turns ``one_class_rescue``
  off.
- **exact ties at the batch boundary.** alloop's ``select_top_k`` draws among tied scores with the
  round's seeded rng (``default_rng([seed, version])``); modAL's ``multi_argmin`` took
  ``np.argpartition``'s order. Duplicate texts tie (sms_spam, rescue off: 7 of 10 seeds, 2 to 11
  copies at the boundary; the picks differed, the curves did not, the copies carrying the same
  label), and so do distinct items, float32 probabilities near 0.5 being 6e-8 apart: sst2 with
  hashing vectors, seed 4, round 14, items 3144 (alloop's) and 3034 (modAL's) both at margin
  0.0015354156; the curves parted at 370 labels (up to 0.018 accuracy). modAL's pointwise strategies
  now score with modAL's own measure and pick with alloop's ``select_top_k`` and rng; small-text's
  strategies and modAL's ranked batch keep their own order among ties.
- **not float precision, for this model.** scikit-learn's logistic regression keeps float32 inputs
  in float32, so on text vectors both sides scored bitwise the same float32 probabilities (largest
  difference 0.0 at every round where picks parted), and on float64 tabular sets (iris, wine,
  breast_cancer, digits: 40 campaigns) the curves agreed exactly. A model with randomness parted for
  another reason: alloop seeds model version v with ``seed + v``, the peers seeded every fit with
  ``seed`` (breast_cancer, random forest, seeds 0-2: parted at the first or second point). Peers now
  seed per version, and take float32 vectors and float32 probabilities (a forest's are float64
  whatever its input) as alloop does.

With these rules modAL's margin curves equal alloop's point for point in every case above (its least
confidence too where checked: breast_cancer, both models; entropy sums ``p log p`` in another order
than alloop, so a near-tie can still fall the other way). Campaigns must use the random cold start
(the default), as peers do, and a model without calibration (peers fit the bare estimator).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import has_fit_parameter

from alloop.loop.coldstart import cold_start_order
from alloop.loop.metrics import evaluate
from alloop.simulate.datasets import DataRef, Protocol, first_labels, load_dataset, make_split
from alloop.simulate.grid import Job
from alloop.simulate.runner import Split
from alloop.strategies.base import select_top_k

__all__ = ["PEERS", "AlloopRules", "OneClassSafe", "check_peer_model", "peer_curve", "peer_job", "peer_jobs"]

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


# named explicitly: small-text changed the default from cosine in 1.2 (and warns either way)
_SMALL_TEXT_ARGS: dict[str, dict[str, Any]] = {"GreedyCoreset": {"distance_metric": "euclidean"}}

# modAL's pointwise strategies: their measure, and its sign that makes "higher = ask first"
_MODAL_MEASURES: dict[str, tuple[str, float]] = {
    "uncertainty_sampling": ("classifier_uncertainty", 1.0),
    "margin_sampling": ("classifier_margin", -1.0),
    "entropy_sampling": ("classifier_entropy", 1.0),
}


@dataclass(frozen=True)
class AlloopRules:
    """What a peer's loop takes from alloop's, so that its curve can match alloop's point for point.

    Attributes
    ----------
    seed : the campaign's seed; model version ``v`` ranks with ``default_rng([seed, v])``, as
        :func:`alloop.loop.training.train_round` does
    depth : how many items alloop ranks per round (its queue depth: the batch size) before serving
        the first of them
    rescue : alloop's one-class rescue (the model spec's ``one_class_rescue``, default on)
    """

    seed: int
    depth: int
    rescue: bool = True

    def rng(self, version: int) -> np.random.Generator:
        """The generator model version ``version`` ranks with."""
        return np.random.default_rng([self.seed, version])


class OneClassSafe(ClassifierMixin, BaseEstimator):
    """``estimator``, except that labels of one class make it predict that class with certainty.

    Then ``classes_`` is every class and ``predict_proba`` has ``n_classes`` columns (what
    alloop's :class:`alloop.models.sklearn.SklearnModel` answers), so margin-style strategies, which
    need two columns, still run. With two classes or more it is ``estimator`` itself. Probabilities
    are float32 either way, as alloop's adapter gives them to its strategies.
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
            return np.asarray(self.fitted_.predict_proba(X), dtype=np.float32)
        out = np.zeros((np.asarray(X).shape[0], self.n_classes), dtype=np.float32)
        out[:, self.only_] = 1.0
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _estimator(model: dict[str, Any], n_classes: int, seed: int) -> OneClassSafe:
    """The peers' estimator as alloop's model version 1 (seeded ``seed + 1``, as alloop does)."""
    from alloop.models import build_model

    template = getattr(build_model(model, n_classes, seed + 1), "template", None)
    if template is None:
        raise ValueError(f"peers need a scikit-learn model; {model.get('name')!r} is not one")
    return OneClassSafe(clone(template), n_classes)


def _reseed(estimator: OneClassSafe, model: dict[str, Any], seed: int, version: int) -> None:
    """Seed the next fit as alloop seeds model ``version`` (unless the spec fixes a seed)."""
    inner = estimator.estimator
    if "random_state" in inner.get_params() and "random_state" not in (model.get("params") or {}):
        inner.set_params(random_state=seed + version)


def _one_class(estimator: Any, pool: np.ndarray) -> bool:
    """Whether the estimator's predictions over the pool (more than one item) all name one class."""
    if pool.shape[0] < 2:
        return False
    predicted = np.argmax(estimator.predict_proba(pool), axis=1)
    return bool(np.all(predicted == predicted[0]))


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    """Weights giving every labeled class the same total (alloop's, scikit-learn's 'balanced')."""
    counts = np.bincount(y)
    return (y.size / (np.count_nonzero(counts) * counts[y])).astype(np.float64)


def _rescue(
    estimator: OneClassSafe, X: np.ndarray, y: np.ndarray, pool: np.ndarray, rules: AlloopRules
) -> bool:
    """alloop's one-class rescue on a fitted estimator; True: the next round skips the strategy.

    Where its predictions over the unlabeled ``pool`` name one class although the labels ``y`` hold
    several, it is refit once with balanced class weights (where its ``fit`` takes sample weights).
    Where it still names one class, alloop ranks by the cold-start rule instead: True.
    """
    if not rules.rescue or not _one_class(estimator, pool):
        return False
    if np.unique(y).size > 1 and has_fit_parameter(estimator.estimator, "sample_weight"):
        estimator.fit(X, y, sample_weight=_balanced_weights(y))
        return _one_class(estimator, pool)
    return True


def _cold_start_pick(pool: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``size`` of alloop's random cold-start ranking (a round with no usable model)."""
    return cold_start_order(pool, size, rule="random", rng=rng)


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


def _modal_query(strategy: str) -> tuple[Callable[..., Any], bool]:
    """modAL's query for ``strategy``, and whether it is pointwise (taking ``rng`` and ``depth``).

    A pointwise strategy scores with modAL's own measure and picks with alloop's
    :func:`~alloop.strategies.base.select_top_k`: the top ``depth`` by the round's ``rng``, whose
    first ``n_instances`` are asked, so exact ties fall as alloop's fall.
    """
    import modAL.batch
    import modAL.uncertainty

    if strategy not in _MODAL_MEASURES:
        return getattr(modAL.batch, strategy), False
    name, sign = _MODAL_MEASURES[strategy]
    measure = getattr(modAL.uncertainty, name)

    def query(
        classifier: Any,
        X: np.ndarray,
        n_instances: int = 1,
        *,
        rng: np.random.Generator,
        depth: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = sign * np.asarray(measure(classifier, X), dtype=np.float64)
        picked = select_top_k(scores, max(depth, n_instances), rng=rng)[:n_instances]
        return picked, scores[picked]

    return query, True


def _modal_rescue(learner: Any, pool: np.ndarray, rules: AlloopRules) -> bool:
    """:func:`_rescue` on modAL's freshly taught estimator, over the items it has not labeled."""
    return _rescue(learner.estimator, learner.X_training, learner.y_training, pool, rules)


def _modal(
    split: Split,
    strategy: str,
    start: np.ndarray,
    sizes: list[int],
    estimator: OneClassSafe,
    rules: AlloopRules,
    model: dict[str, Any],
) -> list[dict[str, Any]]:
    from modAL.models import ActiveLearner

    query, pointwise = _modal_query(strategy)
    learner = ActiveLearner(
        estimator=estimator,
        query_strategy=query,
        X_training=split.X_pool[start],
        y_training=split.y_pool[start],
    )
    remaining = np.setdiff1d(np.arange(split.y_pool.size), start)
    stuck = _modal_rescue(learner, split.X_pool[remaining], rules)
    curve = [_point(learner.estimator, split, start.size)]
    for version, size in enumerate(sizes, start=1):
        pool, rng = split.X_pool[remaining], rules.rng(version)
        if stuck:
            picked = _cold_start_pick(pool, size, rng)
        else:
            kwargs = {"rng": rng, "depth": rules.depth} if pointwise else {}
            picked, _ = learner.query(pool, n_instances=size, **kwargs)
        chosen = remaining[np.asarray(picked, dtype=np.int64)]
        _reseed(learner.estimator, model, rules.seed, version + 1)
        _teach(learner, split.X_pool[chosen], split.y_pool[chosen])
        remaining = np.setdiff1d(remaining, chosen)
        stuck = _modal_rescue(learner, split.X_pool[remaining], rules)
        curve.append(_point(learner.estimator, split, curve[-1]["labels"] + chosen.size))
    return curve


def _embeddings(X: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """The features in the order small-text's embedding strategies expect: unlabeled rows first."""
    unlabeled = np.setdiff1d(np.arange(X.shape[0]), labeled)
    return X[np.concatenate([unlabeled, labeled])]


def _small_text(
    split: Split,
    strategy: str,
    start: np.ndarray,
    sizes: list[int],
    estimator: OneClassSafe,
    rules: AlloopRules,
    model: dict[str, Any],
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
    stuck = _small_text_rescue(learner, split, rules)
    curve = [_point(learner.classifier.model, split, start.size)]
    for version, size in enumerate(sizes, start=1):
        if stuck:  # the round alloop ranks by its cold-start rule: small-text labels those items
            remaining = np.setdiff1d(np.arange(split.y_pool.size), learner.indices_labeled)
            picked = _cold_start_pick(split.X_pool[remaining], size, rules.rng(version))
            learner.indices_queried = remaining[picked]
        else:
            kwargs = (
                {"embeddings": _embeddings(split.X_pool, learner.indices_labeled)}
                if strategy == "GreedyCoreset"
                else {}
            )
            learner.query(num_samples=size, query_strategy_kwargs=kwargs)
        chosen = np.asarray(learner.indices_queried, dtype=np.int64)
        _reseed(estimator, model, rules.seed, version + 1)  # the factory clones it for the refit
        learner.update(split.y_pool[chosen])
        stuck = _small_text_rescue(learner, split, rules)
        curve.append(_point(learner.classifier.model, split, curve[-1]["labels"] + chosen.size))
    return curve


def _small_text_rescue(learner: Any, split: Split, rules: AlloopRules) -> bool:
    """:func:`_rescue` on small-text's freshly trained model, over the items it has not labeled."""
    labeled = np.asarray(learner.indices_labeled, dtype=np.int64)
    pool = split.X_pool[np.setdiff1d(np.arange(split.y_pool.size), labeled)]
    X, y = split.X_pool[labeled], split.y_pool[labeled]
    return _rescue(learner.classifier.model, X, y, pool, rules)


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


def _as_stored(split: Split) -> Split:
    """The split with float32 vectors: what alloop's feature file holds and its models see."""
    return replace(
        split, X_pool=split.X_pool.astype(np.float32), X_eval=split.X_eval.astype(np.float32)
    )


def peer_curve(
    split: Split,
    library: str,
    strategy: str,
    *,
    seed: int,
    batch: int,
    budget: int,
    initial: int,
    model: dict[str, Any],
    initial_per_class: int | None = None,
) -> list[dict[str, Any]]:
    """One peer campaign on a split: its curve (``labels``, ``accuracy``, ``macro_f1`` per model).

    Parameters
    ----------
    split : pool and eval split (vectors are taken as float32, as alloop stores them)
    library, strategy : a peer strategy of :data:`PEERS`
    seed : the campaign's seed (first labels, model seeds, tie draws)
    batch, budget, initial : labels per round, in all, and in the first random batch
    model : the model spec alloop's campaign runs (``one_class_rescue: false`` turns the rescue off)
    initial_per_class : first labels of every class, as alloop's campaign takes them
        (:func:`alloop.simulate.datasets.first_labels`) instead of the random cold start
    """
    split = _as_stored(split)
    pool = split.y_pool.size
    if initial_per_class is not None:
        start = first_labels(split.y_pool, seed, initial_per_class)
    else:
        start = cold_start_order(
            split.X_pool, min(initial, pool), rule="random", rng=np.random.default_rng([seed, 0])
        )
    rules = AlloopRules(seed=seed, depth=batch, rescue=bool(model.get("one_class_rescue", True)))
    return _LOOPS[library](
        split,
        strategy,
        start,
        _batches(start.size, batch, budget, pool),
        _estimator(model, len(split.labels), seed),
        rules,
        model,
    )


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
    curve = peer_curve(
        split,
        library,
        strategy,
        seed=seed,
        batch=batch,
        budget=protocol.budget,
        initial=protocol.initial,
        model=model,
        initial_per_class=protocol.initial_per_class,
    )
    return {
        "source": library,
        "method": f"{library}:{strategy}",
        "strategy": strategy,
        "equivalent": PEERS[library][strategy],
        "seed": seed,
        "batch_size": batch,
        "budget": protocol.budget,
        "initial": int(curve[0]["labels"]),
        "curve": curve,
        "stop_reason": "budget_exhausted",
        "seconds": time.perf_counter() - started,
    }


def check_peer_model(model: dict[str, Any], n_classes: int) -> None:
    """Raise ValueError unless the peers can run ``model`` as alloop does: their strategies read
    ``predict_proba`` from the bare scikit-learn estimator."""
    from alloop.models import build_model

    if (model.get("calibration") or "none") != "none":
        raise ValueError("peers fit the bare estimator: they cannot match a calibrated model (use --calibration none)")
    template = getattr(build_model(model, n_classes, 0), "template", None)
    if template is None:
        raise ValueError(f"peers need a scikit-learn model; {model.get('name')!r} is not one")
    if not hasattr(template, "predict_proba"):
        raise ValueError(
            f"peers' strategies read predict_proba, which {type(template).__name__} does not give "
            "(alloop ranks it by its decision function); compare peers on a model with probabilities"
        )


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
    check_peer_model(model, len(load_dataset(ref).labels))
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
