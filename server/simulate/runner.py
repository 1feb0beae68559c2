"""One simulated campaign, run through the server's own store, controller and strategies.

Nothing here re-implements the loop. A campaign is a project in a throwaway SQLite
store: :func:`alloop.campaign.create_project`, :func:`alloop.store.items.import_items`,
then ``Controller.run_pending()`` -> :func:`alloop.store.serving.claim_write` and
:func:`alloop.store.labels.label_write` with the oracle's labels (one write), until the campaign
stops (budget, pool) exactly as a served one would. The learning curve is the store's
own :func:`alloop.store.rounds.curve`.

Rounds run in the calling process (``worker="thread"``): the simulations are already
spread over cores one campaign per process. Four honest speed-ups only: the throwaway store runs with
``synchronous=OFF`` and its journal in memory (one thread uses it, and there is nothing to keep after a
crash), rounds write no model file and no prediction file (nothing here reads them; ``round_files``
writes them), ``queue_depth`` equals the batch size (each ranking stores
just the batch that will be served before the next retrain; batch strategies choose
exactly that batch, as they would at the head of a deeper queue), and the oracle's /next and its
answers are one write (it answers at once: nothing could come between them).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alloop.campaign import create_project
from alloop.images import png_data_url
from alloop.loop import Controller
from alloop.models import input_kind
from alloop.schemas import ItemIn, LabelIn, ModelSpec, ProjectCreate, StrategySpec
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.db import write_blank
from alloop.store.items import import_items, labeled_count
from alloop.store.labels import iter_export, label_write, submit_labels
from alloop.store.projects import get_project
from alloop.store.rounds import curve
from alloop.store.reviews import REVIEW, review_slots
from alloop.store.serving import WAITABLE, claim_next, claim_write

__all__ = ["CampaignSpec", "SimulationFailed", "Split", "run_campaign"]

ORACLE = "oracle"
REVIEWER = "reviewer"
"""The simulated reviewer: answers the review items /next serves it (``only: "review"``) truthfully."""


class SimulationFailed(RuntimeError):
    """A round of the simulated campaign failed inside the controller."""


@dataclass(frozen=True)
class CampaignSpec:
    """What one simulated campaign runs.

    Attributes
    ----------
    strategy : registered strategy name
    seed : project seed (cold start, model seeds, tie breaking)
    batch_size : labels per query batch (``/next`` size)
    budget : labels to collect in all
    initial : labels in the first, cold-start batch (before any model)
    cold_start : ``"random"`` (the reference protocol) or ``"kmeans++"`` (the server default)
    model : ``{"name", "params"}`` as in a project body
    strategy_params : the strategy's parameters
    retrain_every : labels between retrains; None: one batch (``min(initial, batch_size)``), the
        reference protocol
    initial_per_class : first labels: this many random items of every class (given to the server as
        labels before any round, :func:`alloop.simulate.datasets.first_labels`) instead of ``initial``
        items of the cold start
    noise : share of pool items the oracle labels wrong (a noisy annotator): a seeded random
        ``noise`` of the pool, each with a seeded random other label, fixed per item (so campaigns with
        the same seed flip the same items)
    review : the project's review settings (``{"share", ...}``, :class:`alloop.schemas.ReviewSpec`);
        after each batch a second, reliable annotator asks /next for review items only, as many as keep
        its reviews at ``share`` of the labels, and answers them truthfully
    round_files : write each round's model and pool predictions as a served campaign does (off: nothing
        in a simulation reads them)
    """

    strategy: str
    seed: int
    batch_size: int = 20
    budget: int = 300
    initial: int = 20
    cold_start: str = "random"
    model: dict[str, Any] = field(
        default_factory=lambda: {"name": "logistic_regression", "params": {}}
    )
    strategy_params: dict[str, Any] = field(default_factory=dict)
    retrain_every: int | None = None
    round_files: bool = False
    initial_per_class: int | None = None
    noise: float = 0.0
    review: dict[str, Any] | None = None

    def label(self) -> dict[str, Any]:
        """The spec as plain JSON-able fields."""
        return asdict(self)


@dataclass(frozen=True)
class Split:
    """One pool / eval split of a labeled dataset (labels as positions into ``labels``)."""

    X_pool: np.ndarray
    y_pool: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    labels: list[str]


def _image_side(spec: CampaignSpec, split: Split) -> int | None:
    """For a model that reads images (the cnn): the side of the square gray images the rows are (MNIST's
    784 values: 28); None for other models. The campaign is then an image project fed PNGs of the rows."""
    if input_kind(spec.model) != "image":
        return None
    side = math.isqrt(split.X_pool.shape[1])
    values = np.concatenate([split.X_pool.ravel(), split.X_eval.ravel()])
    if side * side != split.X_pool.shape[1] or values.min() < 0 or values.max() > 1:
        raise SimulationFailed(f"{spec.model['name']!r} reads images: the rows must be square gray images with "
                               "values in [0, 1] (like mnist with --scale none)")
    return side


def _pngs(X: np.ndarray, side: int) -> list[str]:
    """Rows of [0, 1] pixels as PNG data URLs (what an image project imports, decoded back to the same pixels)."""
    return [png_data_url((row.reshape(side, side) * 255).round()) for row in np.asarray(X)]


def _body(spec: CampaignSpec, labels: list[str], side: int | None = None) -> ProjectCreate:
    """The project a simulated campaign creates: no target, no stabilization stop; an image project of
    ``side`` x ``side`` gray images for a model that reads images."""
    image = {} if side is None else {"input": "image", "image": {"width": side, "height": side, "color": "gray"}}
    return ProjectCreate(
        **image,
        name=f"sim-{spec.strategy}-s{spec.seed}-b{spec.batch_size}",
        labels=labels,
        model=ModelSpec(**{**spec.model, "params": dict(spec.model.get("params") or {})}),
        strategy=StrategySpec(name=spec.strategy, params=dict(spec.strategy_params)),
        batch_size=spec.batch_size,
        budget=spec.budget,
        retrain_every=spec.retrain_every or min(spec.initial, spec.batch_size),
        seed=spec.seed,
        cold_start=spec.cold_start,
        stabilize=None,
        # the oracle labels each batch before the next round runs: no staleness cap (the default, twice
        # retrain_every, would serve a 20-label first batch at batch size 1 two items at a time)
        max_stale_labels=None,
        # the reference protocols label the pool as it is: no duplicate groups, no skipping
        dedup="off",
        review=spec.review,
    )


def oracle_answers(split: Split, spec: CampaignSpec) -> np.ndarray:
    """(pool size,) the label position the oracle gives each pool item: the truth, except for a seeded
    ``spec.noise`` share of the items, which get a random other label."""
    rng = np.random.default_rng([spec.seed, 1717])
    n, k = split.y_pool.size, len(split.labels)
    flipped = rng.random(n) < spec.noise
    wrong = (split.y_pool + rng.integers(1, k, size=n)) % k
    return np.where(flipped, wrong, split.y_pool)


def _import(store: Store, project_id: int, split: Split, side: int | None = None) -> None:
    """Pool items get ids ``p<row>``; eval items carry their gold label. With ``side``, each row goes in
    as a PNG image (an image project)."""
    if side is None:
        pool = [{"features": row} for row in split.X_pool.tolist()]
        evals = [{"features": row} for row in split.X_eval.tolist()]
    else:
        pool = [{"image": url} for url in _pngs(split.X_pool, side)]
        evals = [{"image": url} for url in _pngs(split.X_eval, side)]
    import_items(store, project_id, "pool", [ItemIn(id=f"p{i}", **given) for i, given in enumerate(pool)])
    gold = [split.labels[k] for k in split.y_eval.tolist()]
    import_items(store, project_id, "eval", [ItemIn(id=f"e{i}", label=g, **given)
                                             for i, (given, g) in enumerate(zip(evals, gold))])


def _check(controller: Controller, project_id: int) -> None:
    if project_id in controller.errors:
        raise SimulationFailed(controller.errors[project_id])


def _answers(split: Split, item_ids: list[str], given: np.ndarray | None = None,
             annotator: str = ORACLE) -> list[LabelIn]:
    """``annotator``'s labels for these pool items (ids ``p<row>``): ``given`` (default: the truth)."""
    given = split.y_pool if given is None else given
    # built without validation: ids and label names come from the split itself (the write checks them
    # against the project as it does every label; validating cost a tenth of a batch-1 round's overhead)
    return [LabelIn.model_construct(item_id=i, label=split.labels[int(given[int(i[1:])])], annotator=annotator)
            for i in item_ids]


def _answer(store: Store, project_id: int, split: Split, item_ids: list[str], given: np.ndarray | None = None,
            annotator: str = ORACLE) -> None:
    """``annotator`` labels these pool items (ids ``p<row>``) with ``given`` (default: the truth)."""
    submit_labels(store, project_id, _answers(split, item_ids, given, annotator), time.time())


def _serve_and_answer(store: Store, project_id: int, split: Split, n: int, given: np.ndarray | None) -> dict[str, Any]:
    """The oracle's /next for ``n`` items and its labels for what it was served, in one write (the
    server's own :func:`claim_write` and :func:`label_write`): it answers at once, so nothing could come
    between the two, and the second transaction cost more than its statements. Returns the claim."""
    now = time.time()
    claim = claim_write(project_id, ORACLE, n, now)

    def write(conn: Any) -> dict[str, Any]:
        served = claim(conn)
        if served["items"]:
            answers = _answers(split, [item["id"] for item in served["items"]], given)
            label_write(project_id, answers, now, project=served["project"])(conn)
        return served

    return store.transact(write)


def _review(store: Store, controller: Controller, project_id: int, split: Split, spec: CampaignSpec) -> None:
    """The reviewer keeps its reviews at the project's share of the labels: it asks for the review items
    it is behind by (suspects come only once a check ran) and answers them truthfully."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        done = conn.execute("SELECT COUNT(*) FROM reviews WHERE project_id = ?", (project_id,)).fetchone()[0]
        k = review_slots(project, labeled_count(conn, project_id)) - done
    if k <= 0:
        return
    claim = claim_next(store, project_id, REVIEWER, k, time.time(), only=REVIEW)
    if claim["items"]:
        _answer(store, project_id, split, [item["id"] for item in claim["items"]], annotator=REVIEWER)
        controller.run_pending()
        _check(controller, project_id)


def _drive(
    store: Store, controller: Controller, project_id: int, split: Split, spec: CampaignSpec
) -> str:
    """Serve, label (the truth, or the noisy oracle's answers), review, run due rounds; until done.
    Returns the stop reason."""
    given = oracle_answers(split, spec) if spec.noise else None
    n = spec.initial
    if spec.initial_per_class is not None:  # the oracle's first labels, every class among them
        from alloop.simulate.datasets import first_labels

        chosen = first_labels(split.y_pool, spec.seed, spec.initial_per_class)
        _answer(store, project_id, split, [f"p{i}" for i in chosen.tolist()], given)
        n = spec.batch_size
    controller.run_pending()  # cold start, or the first model on the oracle's first labels
    _check(controller, project_id)
    while True:
        claim = _serve_and_answer(store, project_id, split, n, given)
        if claim["done"]:
            return str(claim["reason"])
        if not claim["items"] and claim["waiting"] in WAITABLE:
            controller.run_pending()  # the ranking ran out before the next retrain was due: as a server would
            _check(controller, project_id)
            claim = _serve_and_answer(store, project_id, split, n, given)
        if not claim["items"]:
            raise SimulationFailed(f"the server served nothing to a running campaign ({claim['waiting']})")
        controller.run_pending()
        _check(controller, project_id)
        if spec.review is not None:
            _review(store, controller, project_id, split, spec)
        n = spec.batch_size


def run_campaign(split: Split, spec: CampaignSpec, workdir: Path | None = None) -> dict[str, Any]:
    """Run one campaign to its end in a temporary store; returns its curve and stop reason.

    Parameters
    ----------
    split : the pool (served, labeled by the oracle) and the eval split (scored every round)
    spec : strategy, seed, batch size, budget, initial labels, model
    workdir : folder for the temporary store; default: the system temp folder

    Returns
    -------
    dict with ``curve`` (one point per model version: ``labels``, ``accuracy``, ``macro_f1``),
    ``labeled`` (pool positions in labeling order), ``final_labels`` (their final label positions, after
    reviews), ``reviews`` ((pool position, outcome) of each reviewed label), ``stop_reason``, ``seconds``.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alloop-sim-", dir=workdir) as tmp:
        # A ranking holds what is served before the next retrain: one batch in the reference protocol.
        depth = spec.batch_size if spec.retrain_every is None else spec.batch_size + spec.retrain_every
        settings = Settings(data_dir=Path(tmp), queue_depth=depth, synchronous="OFF", worker="thread",
                            round_files=spec.round_files)
        write_blank(settings.data_dir / "alloop.db")
        store = Store(settings.data_dir, synchronous=settings.synchronous, journal_mode="MEMORY")
        try:
            side = _image_side(spec, split)
            project = create_project(store, settings, _body(spec, split.labels, side))
            _import(store, project.id, split, side)
            reason = _drive(store, Controller(store, settings), project.id, split, spec)
            with store.read() as conn:
                points = curve(conn, project.id)
                state = get_project(conn, project.id).state
                exported = list(iter_export(conn, project.id))
                labeled = [int(row["item_id"][1:]) for row in exported]
                reviews = [(int(row["item_id"][1:]), row["reviews"][0]["outcome"])
                           for row in exported if row["reviews"]]
                final = [split.labels.index(row["label"]) for row in exported]
        finally:
            store.close()
    keep = ("labels", "model_version", "accuracy", "macro_f1", "train_seconds", "score_seconds")
    return {
        "curve": [{k: p.get(k) for k in keep} for p in points],
        "stop_reason": reason,
        "state": state,
        "labeled": labeled,
        "final_labels": final,
        "reviews": reviews,
        "seconds": time.perf_counter() - started,
    }
