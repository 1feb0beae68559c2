"""Label Studio integration: alloop as a Label Studio ML backend, and a server-side link that keeps
Label Studio's queue in alloop's order (:mod:`alloop.labelstudio.agent`).

How Label Studio tasks map to alloop items
------------------------------------------
A task's ``data.alloop_id`` is the alloop item id (the client's own id). Tasks that alloop
or :mod:`alloop.labelstudio.connect` import carry it; tasks imported by hand must too. Text is
shown from ``data.text`` (the ``<Text value="$text"/>`` of :func:`label_config`).

What ``score`` means
--------------------
Label Studio's "Uncertainty sampling" serves the task with the **lowest** prediction score
first. alloop therefore reports ``score`` as a confidence: ``rank / queue size`` in the
newest ranking, so the item alloop most wants labeled has score 0.0 and items outside the
ranking (labeled, or past its depth) have 1.0. Lower = label sooner.

Model versions are ``alloop-v<N>`` (``alloop-v0`` for the cold-start ranking, before any
model). Label Studio does not advance a project's ``model_version`` by itself; a linked
project's server pushes each new ranking and sets it (:mod:`alloop.labelstudio.push`).
"""

from typing import Any

from alloop.labelstudio.config import Control, choices_control, label_config

__all__ = ["Control", "choices_control", "label_config", "version_name"]


def __getattr__(name: str) -> Any:
    # predict reads the store (numpy, sqlite); the command line imports this package and needs neither
    if name == "version_name":
        from alloop.labelstudio.predict import version_name

        return version_name
    raise AttributeError(f"module 'alloop.labelstudio' has no attribute {name!r}")
