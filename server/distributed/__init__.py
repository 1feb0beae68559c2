"""The loop's heavy steps on a cluster: pool scoring and embedding as Ray tasks (issue 16).

With ``ALLOOP_RAY_ADDRESS`` (``alloop serve --ray auto|HOST:PORT``) the process that runs rounds
connects to a Ray cluster once and sends each chunk of the pool (``score_chunk_rows`` rows) to a
task, and each embedding batch to a set of encoder actors; the strategy then ranks on the gathered
scores, in pool order, exactly as it would on scores computed here. A pool of one chunk is scored
here (a task's round trip would cost more than it saves). Nothing changes for users: the same API
and, for the same seed, the same rankings.

Ray is optional (``pip install 'alloop[ray]'``); without an address nothing here imports it.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alloop.distributed.ray_pool import RayPool

__all__ = ["ClusterUnavailable", "check_address", "cluster", "failed", "use"]

log = logging.getLogger("alloop.distributed")

_ADDRESS: str | None = None
_POOL: RayPool | None = None


class ClusterUnavailable(RuntimeError):
    """The Ray address does not answer, or Ray is not installed."""


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast, before anything starts: Ray installed, and ``HOST:PORT`` accepting connections
    (``auto`` finds a cluster started on this machine with ``ray start --head``)."""
    if importlib.util.find_spec("ray") is None:
        raise ClusterUnavailable("--ray needs Ray: pip install 'alloop[ray]'")
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            found = canonicalize_bootstrap_address("auto")
        except ConnectionError as exc:
            raise ClusterUnavailable(f"--ray auto: no Ray cluster runs on this machine ({exc}); start one with "
                                     "`ray start --head` or give its HOST:PORT") from None
        address = str(found)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnavailable(f"--ray {address!r}: give 'auto' or the head's HOST:PORT (e.g. 127.0.0.1:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterUnavailable(f"--ray {address}: the Ray head does not answer ({exc})") from None


RETRY_SECONDS = 60.0
"""After a cluster failed a round, how long rounds run here before it is tried again."""
_RETRY_AT = 0.0


def use(address: str | None) -> None:
    """Run this process's pool scoring and embedding on the cluster at ``address`` (None: here)."""
    global _ADDRESS, _POOL
    global _RETRY_AT
    if address != _ADDRESS:
        _ADDRESS, _POOL, _RETRY_AT = address, None, 0.0


def cluster() -> RayPool | None:
    """The cluster this process scores on, connected on first use; None when none is configured
    or it cannot be reached (the round then runs here, and the log says why)."""
    global _POOL
    if _ADDRESS is None or time.monotonic() < _RETRY_AT:
        return None
    if _POOL is None:
        from alloop.distributed.ray_pool import RayPool

        try:
            check_address(_ADDRESS)  # seconds, where ray.init would retry for a minute
            _POOL = RayPool.connect(_ADDRESS)
        except Exception as exc:  # noqa: BLE001 (whatever stops the connection, the loop goes on here)
            failed(exc)
            return None
    return _POOL


def failed(exc: BaseException) -> None:
    """The cluster failed (at connect, or mid-round): rounds run here for :data:`RETRY_SECONDS`, then
    connect again."""
    global _POOL, _RETRY_AT
    log.warning("Ray cluster at %s unavailable, scoring here for %.0f s: %s", _ADDRESS, RETRY_SECONDS, exc)
    if _POOL is not None:
        _POOL.close()
    _POOL, _RETRY_AT = None, time.monotonic() + RETRY_SECONDS
