"""alloop: an active-learning loop server.

This folder (``server/``) is the ``alloop`` package itself: the FastAPI app, the loop controller,
the store and the CLI. ``strategies/`` ships as :mod:`alloop.strategies` and ``models/`` as
:mod:`alloop.models`. The Python client is :class:`alloop.Client`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("alloop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

if TYPE_CHECKING:
    from alloop.client import AlloopHTTPError, Client

__all__ = ["AlloopHTTPError", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    # The client (and httpx with it) loads on first use: the worker processes and the
    # strategies import this package too and never need it.
    if name in ("Client", "AlloopHTTPError"):
        from alloop import client

        return getattr(client, name)
    raise AttributeError(f"module 'alloop' has no attribute {name!r}")
