"""Request bodies of the v1 HTTP contract, in pydantic strict mode.

Strict mode keeps ``{"item_id": false}`` from becoming item 0; unknown fields are
rejected so a misspelt setting is an error, not a silent default.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from alloop.image_files import FILE_PREFIX, check_image_path
from alloop.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, check_image, check_image_url

__all__ = [
    "EncoderSpec", "ImageSpec", "ModelSpec", "ReviewSpec", "StrategySpec", "TargetSpec", "StabilizeSpec", "ProjectCreate",
    "ProjectPatch", "ItemIn", "ItemsImport", "NextRequest", "LabelIn", "LabelsRequest", "SpanIn", "TASK_HELP",
]

DEFAULT_THRESHOLD = 0.95
DEDUP_HELP = (
    "Duplicates in the pool: 'skip' (default) never serves two members of one group of exact or near "
    "duplicates in a batch or under live leases, nor a duplicate of a labeled item; 'propagate' does the same "
    "and copies each label to the item's exact duplicates (recorded as propagated, free of budget); 'off' serves "
    "the pool as it is."
)
THRESHOLD_HELP = (
    "Cosine similarity of two items' vectors at or above which they are near duplicates (0 < t <= 1). Omitted: "
    f"{DEFAULT_THRESHOLD} for text (its encoder's embeddings), and for vectors exact duplicates only: cosine "
    "on raw features (pixels, counts) is high between items that are not duplicates, and groups chain through "
    "them (digits at 0.95: one group of 412 of 1,797 images). null (PATCH): exact duplicates only."
)
LEAKAGE_HELP = (
    "Eval items that duplicate pool items: 'report' (default) counts them in status and /leakage; 'drop' also "
    "takes the leaked pool items out of the pool."
)
MAX_INT = 2**53  # every integer stays exact in JSON clients and fits SQLite
MAX_LABELS_PER_ITEM = 25  # overlap: most distinct annotators asked about one item
ItemId = StrictStr | Annotated[StrictInt, Field(ge=-MAX_INT, le=MAX_INT)]
Label = StrictStr
TASK_HELP = (
    "What one answer is: 'classification' (default) one label per item; 'multilabel' a set of labels per item "
    "(a list, possibly empty); 'spans' (text input) character spans of the item's text, each with a label "
    "(a list of {start, end, label}, possibly empty)."
)


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class SpanIn(Strict):
    """One typed span of an item's text: characters ``start`` (inclusive) to ``end`` (exclusive)."""

    start: int = Field(ge=0, le=MAX_INT)
    end: int = Field(ge=1, le=MAX_INT)
    label: Label


Answer = Label | list[Label] | list[SpanIn]
"""A label (classification), a list of labels (multilabel) or a list of spans (spans); checked against the
project's task by :func:`alloop.tasks.canonical_label`."""


class ModelSpec(Strict):
    """Which model the loop trains: a registered name and its parameters."""

    name: str = "logistic_regression"
    params: dict[str, Any] = Field(default_factory=dict)
    calibration: Literal["none", "sigmoid", "isotonic"] = Field(
        "none",
        description="scikit-learn models: 'none' uses the estimator's own probabilities, and one without them "
        "(svm, linear_svm) ranks by its decision function (margin = distance to the boundary); 'sigmoid' or "
        "'isotonic' calibrate with 3 shuffled, seeded stratified folds (slower, probabilities you can read).",
    )
    one_class_rescue: bool = Field(
        True,
        description="When a fitted model predicts one class over the whole pool although the labels hold "
        "several: refit it once with balanced class weights, and if it still does, rank by the cold-start "
        "rule. false: keep the model as fitted and let the strategy rank on it (the plain protocol of papers).",
    )


class StrategySpec(Strict):
    """Which query strategy ranks the pool: a registered name and its parameters."""

    name: str = "margin"
    params: dict[str, Any] = Field(default_factory=dict)


class TargetSpec(Strict):
    """Stop once this eval-split metric reaches ``value``."""

    metric: Literal["accuracy", "macro_f1", "micro_f1", "subset_accuracy", "entity_f1"] = Field(
        "accuracy", description="classification: accuracy or macro_f1; multilabel: micro_f1, macro_f1 or "
        "subset_accuracy; spans: entity_f1",
    )
    value: float = Field(ge=0.0, le=1.0)


class StabilizeSpec(Strict):
    """Stop when successive models agree on at least ``threshold`` of the pool, ``rounds`` times running."""

    threshold: float = Field(0.99, gt=0.0, le=1.0)
    rounds: int = Field(3, ge=1, le=100)


class EncoderSpec(Strict):
    """How text becomes vectors: a named encoder, or a local model directory in ``path``."""

    name: str = "all-MiniLM-L6-v2"
    path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


MAX_IMAGE_VALUES = 65_536
"""Most numbers one image project stores per item (width x height x channels): a pool of 10,000 items
then takes at most 2.6 GB of feature file, memory-mapped, never held in memory whole."""


class ImageSpec(Strict):
    """How an image project turns each image into what its model reads: every image is decoded once,
    at import, converted to ``color`` and resized (stretched) to ``width`` x ``height``, and stored as
    float32 values in [0, 1], channel first, in the project's feature file."""

    width: int = Field(32, ge=4, le=512, description="Pixels across every image is resized to.")
    height: int = Field(32, ge=4, le=512, description="Pixels down every image is resized to.")
    color: Literal["gray", "rgb"] = Field(
        "gray", description="'gray': one channel (digits, scans, X-rays); 'rgb': three (photos).",
    )

    @model_validator(mode="after")
    def _bounded(self) -> ImageSpec:
        values = self.width * self.height * self.channels
        if values > MAX_IMAGE_VALUES:
            raise ValueError(f"image: {self.width}x{self.height} {self.color} is {values} values per item; at most "
                             f"{MAX_IMAGE_VALUES} (for example 128x128 rgb or 256x256 gray)")
        return self

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    @property
    def shape(self) -> list[int]:
        """(channels, height, width): how the stored values of one item lay out."""
        return [self.channels, self.height, self.width]


class ReviewSpec(Strict):
    """Label-error review: after each retrain, cleanlab ranks the labels most likely wrong (out-of-fold
    probabilities of the project's model; with overlap, CROWDLAB over the votes), and /next serves them
    for review, ``reason: "review"``, to annotators who did not give the label. Reviews count against
    the budget. Needs the ``quality`` extra (cleanlab)."""

    share: float = Field(
        0.1, gt=0.0, le=0.5,
        description="Share of each /next batch given to review items while suspects wait: round(share x n).",
    )
    folds: int = Field(5, ge=2, le=10, description="Cross-validation folds for the out-of-fold probabilities.")
    max_labels: int = Field(
        5000, ge=50, le=200_000,
        description="Most labels one check reads (the newest ones); bounds its cost in the background worker.",
    )
    every: int | None = Field(
        None, ge=1, le=MAX_INT, description="Labels between checks; omitted: every retrain.",
    )
    min_labels: int = Field(
        100, ge=10, le=MAX_INT,
        description="Labels before the first check: out-of-fold models on fewer cannot tell a flip from a hard "
        "item, and the reviews they ask for would confirm good labels.",
    )


class ProjectCreate(Strict):
    """A new labeling campaign. ``stabilize`` omitted: the server default; ``null``: never."""

    name: str = Field(min_length=1, max_length=200)
    labels: list[Label] = Field(min_length=2, max_length=10_000)
    input: Literal["vector", "text", "image"] = Field(
        "vector", description="What the model reads: 'vector' (features), 'text' (embedded by the encoder) or "
        "'image' (the pixels of each item's image or image_path, resized as 'image' says).",
    )
    task: Literal["classification", "multilabel", "spans"] = Field("classification", description=TASK_HELP)
    model: ModelSpec = Field(
        default_factory=ModelSpec, description="Omitted: logistic_regression, and the cnn for image projects.",
    )
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    batch_size: int = Field(10, ge=1, le=1000)
    budget: int | None = Field(
        None, ge=1, le=MAX_INT, description="Most labels to collect (or most cost to spend); null: the whole pool."
    )
    budget_unit: Literal["items", "cost"] = Field(
        "items", description="What the budget counts: labeled items, or the summed cost of the labeled items "
        "(an item without a cost counts 1).",
    )
    target: TargetSpec | None = None
    retrain_every: int = Field(10, ge=1, le=MAX_INT)
    lease_seconds: int = Field(600, ge=1, le=7 * 24 * 3600)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    cold_start: Literal["kmeans++", "random"] | None = None
    stabilize: StabilizeSpec | None = None
    encoder: EncoderSpec | None = Field(None, description="Text projects only; default all-MiniLM-L6-v2.")
    image: ImageSpec | None = Field(
        None, description="Image projects only: the size and color every image is resized to (default 32x32 gray).",
    )
    labels_per_item: int = Field(
        1, ge=1, le=MAX_LABELS_PER_ITEM,
        description="Distinct annotators asked about each item; above 1 the final label is their majority.",
    )
    max_stale_labels: int | None = Field(
        None, ge=1, le=MAX_INT,
        description="Most labels that may arrive after the ranking /next serves from was computed; past it "
        "/next waits for the next ranking instead of serving stale or unranked items. Omitted: twice "
        "retrain_every; null: never wait.",
    )
    suggest: bool = Field(
        False, description="Show annotators the newest model's prediction for each item (in /next as "
        "`suggestion`; the labeling page pre-selects it). Off by default: a suggestion can anchor a person's answer.",
    )
    dedup: Literal["skip", "propagate", "off"] = Field(
        "skip", description=DEDUP_HELP,
    )
    dedup_threshold: float | None = Field(None, gt=0.0, le=1.0, description=THRESHOLD_HELP)
    leakage: Literal["report", "drop"] = Field("report", description=LEAKAGE_HELP)
    review: ReviewSpec | None = Field(
        None, description="Review suspected label errors (off by default: reviews spend budget). {} takes the "
        "defaults.",
    )

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, labels: list[str]) -> list[str]:
        if any(not label.strip() for label in labels):
            raise ValueError("labels must be non-empty strings")
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        return labels

    @model_validator(mode="after")
    def _task_input(self) -> ProjectCreate:
        if self.task == "spans" and self.input != "text":
            raise ValueError("task 'spans' labels spans of text: it needs input 'text'")
        return self


class ProjectPatch(Strict):
    """Settings that may change while a campaign runs; ``budget: null`` lifts the budget, ``target: null`` drops the target."""

    strategy: StrategySpec | None = None
    batch_size: int | None = Field(None, ge=1, le=1000)
    budget: int | None = Field(None, ge=1, le=MAX_INT)
    budget_unit: Literal["items", "cost"] | None = None
    target: TargetSpec | None = None
    retrain_every: int | None = Field(None, ge=1, le=MAX_INT)
    lease_seconds: int | None = Field(None, ge=1, le=7 * 24 * 3600)
    labels_per_item: int | None = Field(
        None, ge=1, le=MAX_LABELS_PER_ITEM,
        description="Raise: open items wait for more votes. Lower: items with enough votes are decided now.",
    )
    max_stale_labels: int | None = Field(
        None, ge=1, le=MAX_INT, description="Most labels a served ranking may fall behind; null: never wait.",
    )
    suggest: bool | None = None
    dedup: Literal["skip", "propagate", "off"] | None = Field(None, description=DEDUP_HELP)
    dedup_threshold: float | None = Field(
        None, gt=0.0, le=1.0, description=THRESHOLD_HELP + " A new threshold regroups the whole project.",
    )
    leakage: Literal["report", "drop"] | None = Field(None, description=LEAKAGE_HELP)
    review: ReviewSpec | None = Field(None, description="Review settings; null turns reviews off.")


class ItemIn(Strict):
    """One item: the client's id and either ``features`` or ``text``; ``label`` for eval items;
    optionally an image for people to look at (``image`` inline, or ``image_url``). Image projects read
    the pixels of ``image`` or of ``image_path``, a file under the server's images root."""

    id: ItemId
    features: list[float] | None = None
    text: str | None = None
    label: Answer | None = None
    meta: dict[str, Any] | None = None
    cost: float | None = Field(
        None, description="What labeling this item costs (seconds, text length...), > 0; cost-aware strategies "
        "rank by informativeness per unit of it. Items without one count 1."
    )
    image: str | None = Field(
        None, description=f"A PNG or JPEG shown to annotators: a data URL (data:image/png;base64,...) or bare "
        f"base64, at most {MAX_IMAGE_BYTES} bytes decoded and {MAX_IMAGE_PIXELS} pixels.",
    )
    image_url: str | None = Field(
        None, description="An image shown to annotators, by link: an http(s) URL or a path on this server.",
    )
    image_path: str | None = Field(
        None, description="Image projects: a PNG or JPEG file on the server, as a relative path under its images "
        "root (ALLOOP_IMAGE_ROOT, or alloop serve --image-root); the model reads its pixels, annotators see it.",
    )

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return None if value is None else check_image(value)

    @field_validator("image_url")
    @classmethod
    def _image_url(cls, value: str | None) -> str | None:
        return None if value is None else check_image_url(value)

    @field_validator("image_path")
    @classmethod
    def _image_path(cls, value: str | None) -> str | None:
        return None if value is None else check_image_path(value)

    @model_validator(mode="after")
    def _one_image(self) -> ItemIn:
        given = [name for name in ("image", "image_url", "image_path") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of image, image_url or image_path, not {' and '.join(given)}")
        return self

    @property
    def shown_image(self) -> str | None:
        """What the labeling page shows: the inline image, the link, or the file (``file:`` + its path)."""
        if self.image_path is not None:
            return FILE_PREFIX + self.image_path
        return self.image if self.image is not None else self.image_url

    @field_validator("cost")
    @classmethod
    def _positive_cost(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError("cost must be a finite number > 0")
        return value

    @field_validator("id")
    @classmethod
    def _id_text(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise ValueError("id must be a non-empty string or an integer")
        return value

    @field_validator("features")
    @classmethod
    def _finite(cls, values: list[float] | None) -> list[float] | None:
        if values is not None and not all(math.isfinite(v) for v in values):
            raise ValueError("features must be finite numbers (no NaN or infinity)")
        return values


class ItemsImport(Strict):
    """A batch of items for the pool (unlabeled, served) or the eval split (labeled, never served)."""

    split: Literal["pool", "eval"] = "pool"
    items: list[ItemIn] = Field(min_length=1, max_length=200_000)


class NextRequest(Strict):
    """Ask for up to ``n`` items to label; ``n`` omitted: the project's batch size.

    ``wait``: seconds to wait for a fresh ranking when the served one is too stale (or the pool
    is still embedding) before answering an empty batch with ``retry_after``; omitted: the
    server's default (``ALLOOP_NEXT_WAIT_SECONDS``), 0: answer at once.
    """

    annotator: str = Field("anonymous", min_length=1, max_length=200)
    n: int | None = Field(None, ge=-MAX_INT, le=MAX_INT)
    wait: float | None = Field(None, allow_inf_nan=False)
    only: Literal["review"] | None = Field(
        None, description="'review': serve review items only (a reviewer who checks labels, never labels new items).",
    )


class LabelIn(Strict):
    """One answer: which item, which label (or labels, or spans: see the project's task), who gave it."""

    item_id: ItemId
    label: Answer
    annotator: str = Field("anonymous", min_length=1, max_length=200)


class LabelsRequest(Strict):
    """A batch of labels; written all or nothing.

    ``submission_id`` (or the ``Idempotency-Key`` header) makes a retry safe: a replay
    gets the first answer back, and the same id with other labels is a 422.
    """

    labels: list[LabelIn] = Field(min_length=1, max_length=10_000)
    submission_id: str | None = Field(None, min_length=1, max_length=200)
