"""Campaign operations behind the project routes: create, status, change settings."""

from __future__ import annotations

import json
import time
from typing import Any

from alloop.errors import Invalid
from alloop.quality import duplicates, leakage
from alloop.loop import Controller
from alloop.loop.embedding import DEFAULT_ENCODER, embedding_progress, load_encoder
from alloop.loop.stopping import pool_state, stop_reason
from alloop.schemas import DEFAULT_THRESHOLD, ImageSpec, ProjectCreate, ProjectPatch, StrategySpec
from alloop.settings import Settings
from alloop.store import Store
from alloop.store.budget import resume_if_room, spent
from alloop.store.items import counts, feature_file
from alloop.store.labels import check_stop
from alloop.quality.annotators import annotator_quality
from alloop.store.projects import (
    Project,
    get_project,
    insert_project,
    list_projects,
    resume_project,
    update_project,
)
from alloop.store.reviews import review_summary
from alloop.store.rounds import agreements, latest_version
from alloop.store.votes import decide_ready, vote_summary

__all__ = ["create_project", "default_max_stale", "project_status", "all_statuses", "patch_project"]

NULLABLE = ("budget", "target", "max_stale_labels", "dedup_threshold", "review")
"""Settings a PATCH may clear with null (no budget, no target, never wait for a fresh ranking)."""


# strategies and models are imported where a configuration is checked, not at import time:
# they pull in scikit-learn and scipy, which the serving process otherwise never needs.


def _check_strategy(spec: StrategySpec, model: dict[str, Any], task: str = "classification") -> None:
    """The strategy exists, takes these parameters, ranks ``task`` projects, and reads only what a campaign
    with ``model`` provides."""
    from alloop import strategies
    from alloop.models import gives_samples
    from alloop.models import names as model_names

    try:
        strategies.registry.check_params(strategies.get(spec.name), spec.params)
        strategies.registry.check_task(spec.name, task)
        needs = strategies.needs(spec.name, spec.params)
    except (KeyError, ValueError) as exc:
        raise Invalid(f"strategy: {exc}") from None
    if "samples" in needs and not gives_samples(model):
        samplers = ", ".join(n for n in model_names() if gives_samples({"name": n}))
        raise Invalid(
            f"strategy: {spec.name!r} needs sampled probabilities (MC dropout passes or ensemble members), "
            f"which model {model.get('name')!r} does not give; use one of: {samplers}"
        )


def _check_encoder(body: ProjectCreate) -> dict[str, Any] | None:
    """The text encoder spec, loaded once here so a missing model is a 422 now, not a failed job later."""
    if body.input != "text":
        if body.encoder is not None:
            raise Invalid("encoder: only text projects (input 'text') take an encoder")
        return None
    from alloop.models import MissingDependency

    spec = body.encoder.model_dump() if body.encoder else dict(DEFAULT_ENCODER)
    try:
        load_encoder(spec)
    except (MissingDependency, ValueError, TypeError, OSError) as exc:
        raise Invalid(f"encoder: {exc}") from None
    return spec


def _check_input(body: ProjectCreate) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The model spec and image settings for the project's input: image projects default to the cnn and
    hand it their image's shape (``input_shape``); a model that reads another input is a 422."""
    from alloop.models import input_kind

    model = body.model.model_dump()
    if body.input != "image":
        if body.image is not None:
            raise Invalid("image: only image projects (input 'image') take image settings")
        if input_kind(model) == "image":
            raise Invalid(f"model: {model['name']!r} reads images; use it in a project with input 'image'")
        return model, None
    image = body.image or ImageSpec()
    if "model" not in body.model_fields_set:
        model["name"] = "cnn"
    kind = input_kind(model)
    if kind == "text":
        raise Invalid(f"model: {model['name']!r} reads text, not images; use cnn or a vector model (it reads "
                      "the pixels flattened)")
    if kind == "image":
        model["input_shape"] = image.shape
    return model, image.model_dump()


def _check_staleness(max_stale_labels: int | None, retrain_every: int) -> None:
    """A ranking falls ``retrain_every`` labels behind before the next retrain is even due."""
    if max_stale_labels is not None and max_stale_labels < retrain_every:
        raise Invalid(
            f"max_stale_labels ({max_stale_labels}) must be at least retrain_every ({retrain_every}): the served "
            "ranking falls that far behind before the next retrain is due, so /next would wait for a round "
            "that never starts (null: never wait)"
        )


def _check_review() -> None:
    """Reviews need cleanlab (the ``quality`` extra): a clear 422 now rather than failed checks later."""
    from alloop.quality.label_errors import cleanlab_missing

    missing = cleanlab_missing()
    if missing:
        raise Invalid(f"review: {missing}")


IMPLEMENTED_TASKS = ("classification", "multilabel", "spans")
CLASSIFICATION_TARGETS = ("accuracy", "macro_f1")


def _check_task(task: str, fields: dict[str, Any]) -> None:
    """Settings (a create body or a PATCH, as a dict) that the project's task cannot take are a 422."""
    if task == "multilabel":  # issue 20: alloop.tasks.multilabel_config says what it takes
        from alloop.tasks.multilabel_config import unsupported

        problem = unsupported(fields)
        if problem:
            raise Invalid(problem)
        return
    target = fields.get("target")
    if task == "classification" and target is not None and target.get("metric") not in CLASSIFICATION_TARGETS:
        raise Invalid(f"target: metric {target.get('metric')!r} does not apply to a classification project; "
                      f"accepted: {list(CLASSIFICATION_TARGETS)}")


def default_max_stale(retrain_every: int) -> int:
    """The staleness cap a project gets unless it names one: two retrain intervals."""
    return 2 * retrain_every


def create_project(store: Store, settings: Settings, body: ProjectCreate) -> Project:
    """Validate the configuration against the registries and store a running project."""
    from alloop.models import MissingDependency, UnknownModel, check_model

    if body.task not in IMPLEMENTED_TASKS:
        raise Invalid(f"task: {body.task!r} is not available yet; accepted: {list(IMPLEMENTED_TASKS)}")
    from alloop.tasks import spans_config

    if body.task == "spans":  # spans: a tagger and sequence strategies (alloop.tasks.spans_config)
        body = spans_config.check_create(body)
        model, image = body.model.model_dump(), None
    else:
        spans_config.check_target(body.task, body.target.model_dump() if body.target else None)
        _check_task(body.task, body.model_dump())
        if body.task == "multilabel" and "strategy" not in body.model_fields_set:
            from alloop.tasks.multilabel_config import DEFAULT_STRATEGY

            body = body.model_copy(update={"strategy": StrategySpec(name=DEFAULT_STRATEGY)})
        model, image = _check_input(body)
        _check_strategy(body.strategy, model, body.task)
        try:
            if body.task == "multilabel":  # one-vs-rest scikit-learn models or sigmoid torch heads
                from alloop.models.multilabel import check_multilabel

                check_multilabel(model, len(body.labels))
            else:
                check_model(model, len(body.labels))
        except (UnknownModel, MissingDependency) as exc:
            raise Invalid(f"model: {exc}") from None
    fields = body.model_dump(exclude={"stabilize", "cold_start", "encoder"})
    fields["model"], fields["image"] = model, image
    if "max_stale_labels" not in body.model_fields_set:
        fields["max_stale_labels"] = default_max_stale(body.retrain_every)
    _check_staleness(fields["max_stale_labels"], body.retrain_every)
    fields["encoder"] = _check_encoder(body)
    fields["grouped"] = int(body.dedup != "off")  # dedup off: no duplicate search until it is turned on
    if body.dedup_threshold is None and body.input == "text":
        fields["dedup_threshold"] = DEFAULT_THRESHOLD  # an encoder's embeddings: cosine means similar text
    if body.review is not None:
        _check_review()
    fields["cold_start"] = body.cold_start or settings.cold_start
    if "stabilize" in body.model_fields_set:
        fields["stabilize"] = body.stabilize.model_dump() if body.stabilize else None
    else:
        fields["stabilize"] = {"threshold": settings.stabilize_threshold, "rounds": settings.stabilize_rounds}
    with store.write() as conn:
        return insert_project(conn, fields)


def _number(value: float) -> int | float:
    """A budget figure as JSON shows it best: whole numbers as integers (item counts stay ints)."""
    return int(value) if float(value).is_integer() else round(value, 6)


ACTIVITY = {"embed": "embedding", "train": "training", "cold_start": "cold_start"}
"""The loop's round kinds as status shows them."""


def _loop(conn: Any, project: Project, controller: Controller, labeled: int, latest: Any,
          to_embed: int) -> dict[str, Any]:
    """What the loop is doing for the project, and whether a done campaign's figures are final.

    ``activity``: ``embedding`` while items wait for their vectors, ``cold_start``,
    ``training``, or ``final_round``: a done campaign is ``settled`` once its newest model (the
    curve's last point) was trained on every label; until then the round on the final labels is
    pending or running (``training: true`` too).
    """
    busy = controller.busy.get(project.id)
    trained = latest["n_labels"] if latest else 0
    final = project.state == "done" and labeled > trained
    if final and busy in (None, "train"):
        activity = "final_round"
    elif busy:
        activity = ACTIVITY[busy]
    else:
        activity = "embedding" if to_embed else None
    after_stop = 0
    if project.stopped_at is not None:
        after_stop = conn.execute(
            "SELECT COUNT(*) FROM labels WHERE project_id = ? AND created_at > ?", (project.id, project.stopped_at)
        ).fetchone()[0]
    return {
        "training": busy == "train" or final,
        "activity": activity,
        "settled": project.state == "done" and not final,
        "labeled_after_stop": after_stop,
    }


def _embedding(conn: Any, project: Project, controller: Controller) -> dict[str, Any]:
    """Text projects: how far the pool's embedding is, at what rate, and when it should be done."""
    progress = embedding_progress(conn, project.id)
    rate = controller.embedding_rate(project.id)
    waiting = progress["to_embed"]
    return {**progress, "embedding": {
        "done": progress["embedded"], "total": progress["embedded"] + waiting,
        "rate_per_second": None if rate is None else round(rate, 1),
        "eta_seconds": 0.0 if not waiting else None if rate is None else round(waiting / rate, 1),
    }}


def _ranking(conn: Any, project_id: int, labeled: int) -> dict[str, Any] | None:
    """The ranking /next serves: its model version, strategy, size, and how many labels behind it is."""
    row = conn.execute(
        "SELECT model_version, strategy, created_at, size, n_labels FROM rankings WHERE project_id = ?", (project_id,)
    ).fetchone()
    if row is None:
        return None
    ranking = dict(row)
    ranking["labels"] = ranking.pop("n_labels")
    ranking["stale_labels"] = labeled - ranking["labels"]
    return ranking


def _status(conn: Any, project: Project, controller: Controller) -> dict[str, Any]:
    now = time.time()
    c = counts(conn, project.id, now)
    latest = latest_version(conn, project.id)
    embedding = _embedding(conn, project, controller) if project.input == "text" else {}
    return {
        **project.config(),
        "state": project.state,
        "stop_reason": project.stop_reason,
        **{k: c[k] for k in ("labeled", "unlabeled", "leased")},
        "pool_size": c["pool"],
        "eval_size": c["eval"],
        "spent": _number(used := spent(conn, project)),
        "budget_left": None if project.budget is None else _number(max(0.0, project.budget - used)),
        "model_version": latest["version"] if latest else None,
        "metrics": json.loads(latest["metrics"]) if latest else None,
        **_loop(conn, project, controller, c["labeled"], latest, embedding.get("to_embed", 0)),
        "last_error": controller.errors.get(project.id),
        "ranking": _ranking(conn, project.id, c["labeled"]),
        **vote_summary(conn, project, c["labeled"], now),
        "duplicates": duplicates.summary(conn, project),
        "leakage_report": leakage.report(conn, project),
        **review_summary(conn, project, now),
        "annotators": annotator_quality(conn, project),
        **embedding,
        "created_at": project.created_at,
        "stopped_at": project.stopped_at,
    }


def project_status(store: Store, controller: Controller, project_id: int) -> dict[str, Any]:
    """Configuration, state, counts and the newest model's metrics."""
    with store.read() as conn:
        return _status(conn, get_project(conn, project_id), controller)


def all_statuses(store: Store, controller: Controller) -> list[dict[str, Any]]:
    """Every project's status."""
    with store.read() as conn:
        return [_status(conn, project, controller) for project in list_projects(conn)]


DUPLICATE_SETTINGS = {"dedup", "dedup_threshold", "leakage"}


def _apply_duplicates(store: Store, conn: Any, before: Project, project: Project, fields: dict[str, Any]) -> None:
    """A new threshold (or the first grouping of an upgraded project) regroups the whole project;
    ``dedup`` on or off skips or un-skips duplicates of labeled items; ``leakage`` drops or restores."""
    features = feature_file(store, project)
    matrix = features.matrix() if features is not None else None
    new_threshold = fields.get("dedup_threshold", before.dedup_threshold) != before.dedup_threshold
    if new_threshold or (not project.grouped and {"dedup", "dedup_threshold"} & set(fields)):
        duplicates.regroup(conn, project, matrix)
    elif project.dedup == "off":
        duplicates.unskip_all(conn, project.id)
    elif before.dedup == "off":
        duplicates.mark_skipped(conn, project)
    if "leakage" in fields:
        if project.leakage == "drop":
            leakage.drop(conn, project.id)
        else:
            leakage.restore(conn, project.id)
    project = get_project(conn, project.id)
    if project.state == "running":
        check_stop(conn, project)  # what is left may all be skipped or dropped
    else:
        resume_if_room(conn, project)


def patch_project(store: Store, project_id: int, body: ProjectPatch) -> Project:
    """Change settings; a campaign stopped by budget or target resumes if that no longer holds,
    and a running one whose new budget is already spent stops.

    Lowering ``labels_per_item`` decides at once every item that already has that many votes
    (by majority over all its votes); raising it leaves decided items as they are.
    """
    with store.read() as conn:
        current = get_project(conn, project_id)
    from alloop.tasks import spans_config

    if current.task == "spans":  # spans: alloop.tasks.spans_config
        spans_config.check_patch(body)
    else:
        spans_config.check_target(current.task, body.target.model_dump() if body.target else None)
        if body.strategy is not None:
            _check_strategy(body.strategy, current.model, current.task)
    fields = body.model_dump(exclude_unset=True)
    _check_task(current.task, fields)
    if body.review is not None:
        _check_review()
        fields["review"] = body.review.model_dump()  # every setting, not only those the PATCH named
    required = sorted(k for k, v in fields.items() if v is None and k not in NULLABLE)
    if required:
        raise Invalid(f"{', '.join(required)} cannot be null (only {', '.join(NULLABLE)} may be cleared)")
    with store.write() as conn:
        before = get_project(conn, project_id)
        if "retrain_every" in fields and "max_stale_labels" not in fields \
                and before.max_stale_labels == default_max_stale(before.retrain_every):
            fields["max_stale_labels"] = default_max_stale(fields["retrain_every"])  # the default follows
        _check_staleness(fields.get("max_stale_labels", before.max_stale_labels),
                         fields.get("retrain_every", before.retrain_every))
        project = update_project(conn, project_id, fields)
        if DUPLICATE_SETTINGS & set(fields):
            _apply_duplicates(store, conn, before, project, fields)
            project = get_project(conn, project_id)
        decided = "labels_per_item" in fields and decide_ready(conn, project, time.time())
        if decided or (project.state == "running" and {"budget", "budget_unit"} & set(fields)):
            check_stop(conn, project)  # a lower budget, or one counted in cost, may be spent already
            project = get_project(conn, project_id)
        if project.state == "done" and project.stop_reason in ("budget_exhausted", "target_reached"):
            latest = latest_version(conn, project_id)
            metrics = json.loads(latest["metrics"]) if latest else {}
            window = (project.stabilize or {}).get("rounds", 1)
            still = stop_reason(project, pool_state(conn, project), metrics, agreements(conn, project_id, window))
            if still is None:
                resume_project(conn, project_id)
                project = get_project(conn, project_id)
        return project
