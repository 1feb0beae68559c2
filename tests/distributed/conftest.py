"""A Ray cluster on loopback for the tests: a head and two worker nodes, one CPU each, started once
for the module that asks for it and shut down after it (Ray's own test cluster: its processes are
this process's children, stopped by ``Cluster.shutdown``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from helpers import RAY_LOOPBACK as LOOPBACK

from alloop import distributed

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'alloop[ray]') is not installed")

NODE = {"num_cpus": 1, "object_store_memory": 100_000_000}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The head's address, with two more nodes joined."""
    from ray.cluster_utils import Cluster

    saved = {key: os.environ.get(key) for key in LOOPBACK}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # Ray's head installs its own
    os.environ.update(LOOPBACK)
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        distributed.use(None)
        ray.shutdown()
        cluster.shutdown()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
