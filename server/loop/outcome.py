"""What a round hands back: its summary and the one write that records it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RoundWrite"]


@dataclass
class RoundWrite:
    """What a round computed, and the one write that records it.

    Rounds compute wherever they run (the worker process by default) and never write the
    database there: ``apply`` is a picklable callable (a partial of a module-level function)
    that the server's own store runs as one transaction, queued with the requests' writes.
    A second writer process would otherwise starve behind the request traffic's commits.
    """

    summary: dict[str, Any]
    apply: Callable[[sqlite3.Connection], Any] | None = None  # the connection comes as the last argument
