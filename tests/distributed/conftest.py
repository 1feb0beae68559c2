"""A Ray cluster on loopback for the tests: a head and two worker nodes, one CPU each (Ray's own test
cluster: its processes are this process's children, stopped by ``Cluster.shutdown``).

The cluster is started once, by the first test of this folder that asks for it, and shut down after
the folder's last test (starting one takes about 5 s). Each module still connects to it afresh: its
``ray_cluster`` fixture disconnects this process at the module's end, which ends the actors it made."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import RAY_LOOPBACK as LOOPBACK

from alloop import distributed

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'alloop[ray]') is not installed")

NODE = {"num_cpus": 1, "object_store_memory": 100_000_000}
HERE = Path(__file__).resolve().parent

_running: dict[str, str | Callable[[], None]] = {}
"""The cluster while it runs: its address, and what stops it."""


def _start() -> str:
    """Start the cluster (once): the head's address, with two more nodes joined."""
    from ray.cluster_utils import Cluster

    if "address" in _running:
        return str(_running["address"])
    saved = {key: os.environ.get(key) for key in LOOPBACK}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # Ray's head installs its own

    def restore() -> None:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    os.environ.update(LOOPBACK)
    try:
        cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    except BaseException:
        restore()
        raise

    def stop() -> None:
        try:
            cluster.shutdown()
        finally:
            restore()

    _running["stop"] = stop
    try:
        for _ in range(2):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
    except BaseException:
        _stop()
        raise
    _running["address"] = cluster.address
    return cluster.address


def _stop() -> None:
    stop = _running.pop("stop", None)
    _running.pop("address", None)
    if callable(stop):
        stop()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The head's address; at the module's end this process disconnects (the cluster stays up)."""
    try:
        yield _start()
    finally:
        distributed.use(None)
        ray.shutdown()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After this folder's last test (its module fixtures torn down first), stop the cluster."""
    if nextitem is None or HERE not in Path(nextitem.path).resolve().parents:
        _stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A session cut short (``-x``, Ctrl-C) stops the cluster too."""
    _stop()
