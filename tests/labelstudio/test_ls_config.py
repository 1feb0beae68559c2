"""Label Studio labeling configs: reading the Choices control, writing a config for a project."""

from __future__ import annotations

import pytest

from alloop.errors import Invalid
from alloop.labelstudio.config import Control, check_labels, choices_control, label_config


def test_a_written_config_reads_back() -> None:
    labels = ['ham', 'spam & "eggs"', "<b>"]
    control = choices_control(label_config(labels, from_name="sentiment", to_name="review"))
    assert control == Control("sentiment", "review", tuple(labels))


@pytest.mark.parametrize("config", [None, "", "<View><Text name='t' value='$text'/></View>"])
def test_no_choices_means_the_defaults(config: str | None) -> None:
    assert choices_control(config) == Control("label", "text", ())


def test_the_first_choices_tag_wins() -> None:
    config = ("<View><Text name='doc' value='$text'/><Choices name='topic' toName='doc'><Choice value='x'/>"
              "</Choices><Choices name='other' toName='doc'><Choice value='y'/></Choices></View>")
    assert choices_control(config) == Control("topic", "doc", ("x",))


@pytest.mark.parametrize(("config", "message"), [("<View>", "not valid XML"), ("<a/>" + " " * 1_000_001, "longer")])
def test_bad_configs_are_invalid(config: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        choices_control(config)


def test_check_labels() -> None:
    check_labels(Control(choices=("a", "b", "c")), ["a", "b"])
    check_labels(Control(), ["anything"])
    with pytest.raises(Invalid, match=r"lacks the project's labels \['c'\]"):
        check_labels(Control(choices=("a", "b")), ["a", "b", "c"])


def test_an_image_projects_config_shows_the_image_and_its_choices_read_back() -> None:
    config = label_config(["cat", "dog"], input="image")
    assert config.startswith('<View><Image name="image" value="$image"/><Choices name="label" toName="image" ')
    assert choices_control(config) == Control("label", "image", ("cat", "dog"))
