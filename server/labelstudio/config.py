"""Label Studio labeling configs: read the Choices control out of one, or write one for a project."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from alloop.errors import Invalid

__all__ = ["Control", "choices_control", "label_config", "check_labels"]

_MAX_CONFIG_CHARS = 1_000_000


@dataclass(frozen=True)
class Control:
    """The ``<Choices>`` tag predictions are written for: its name, the object it labels, its values."""

    from_name: str = "label"
    to_name: str = "text"
    choices: tuple[str, ...] = ()
    kind: str = "choices"  # "labels": a <Labels> control (spans projects)


def choices_control(config: str | None) -> Control:
    """The first ``<Choices>`` of a labeling config; defaults when there is none or no config."""
    if not config:
        return Control()
    if len(config) > _MAX_CONFIG_CHARS:
        raise Invalid(f"label_config is longer than {_MAX_CONFIG_CHARS} characters")
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise Invalid(f"label_config is not valid XML: {exc}") from None
    tag = next(root.iter("Choices"), None)
    if tag is None:  # spans projects: a <Labels> control over the text
        spans = next(root.iter("Labels"), None)
        if spans is not None:
            values = tuple(c.get("value", "") for c in spans.iter("Label"))
            return Control(spans.get("name", "label"), spans.get("toName", "text"), values, kind="labels")
        return Control()
    values = tuple(c.get("value", "") for c in tag.iter("Choice"))
    return Control(tag.get("name", "label"), tag.get("toName", "text"), values)


def check_labels(control: Control, labels: list[str]) -> None:
    """A config whose Choices miss some of the project's labels cannot take its predictions."""
    if not control.choices:
        return
    missing = [label for label in labels if label not in control.choices]
    if missing:
        raise Invalid(
            f"the Label Studio <Choices name={control.from_name!r}> lacks the project's labels {missing}; "
            f"it has {list(control.choices)}"
        )


def label_config(labels: list[str], *, from_name: str = "label", to_name: str | None = None,
                 input: str = "text", multiple: bool = False, task: str = "classification") -> str:
    """A single-choice classification config for ``labels``: of a text (``$text``), or for an image
    project (``input="image"``) of an image (``<Image name="image" value="$image"/>``); ``multiple``: a
    multi-label one (``choice="multiple"``, issue 20), whose answer is every choice ticked; for a spans
    project (``task="spans"``), ``<Labels>`` over the text, selected by whole words."""
    if task == "spans":
        name = to_name or "text"
        values = "".join(f"<Label value={quoteattr(label)}/>" for label in labels)
        return (f"<View><Labels name={quoteattr(from_name)} toName={quoteattr(name)}>{values}</Labels>"
                f"<Text name={quoteattr(name)} value=\"$text\" granularity=\"word\"/></View>")
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in labels)
    kind = "multiple" if multiple else "single-radio"
    if input == "image":
        name = to_name or "image"
        shown = f"<Image name={quoteattr(name)} value=\"$image\"/>"
    else:
        name = to_name or "text"
        shown = f"<Text name={quoteattr(name)} value=\"$text\"/>"
    return (
        f"<View>{shown}<Choices name={quoteattr(from_name)} toName={quoteattr(name)} choice=\"{kind}\" "
        f"showInLine=\"true\">{choices}</Choices></View>"
    )
