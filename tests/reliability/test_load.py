"""Many concurrent annotators over HTTP: no item is ever held by two of them at once.

CI runs 50 annotators x ALLOOP_LOAD_POLLS polls (default 100, i.e. 5,000 polls, with
leases of 1 s expiring under the traffic); ``ALLOOP_LOAD_POLLS=2000`` runs the full 100,000
polls (about 5 minutes here). The pool grows with the polls so that none runs short of items.
"""

from __future__ import annotations

import os

import pytest

from alloop.client import Client
from alloop.loadgen import Behaviour, run_load, violations
from alloop.process import ServerProcess

pytestmark = pytest.mark.slow

POLLS = int(os.environ.get("ALLOOP_LOAD_POLLS", "100"))
ANNOTATORS = 50
POOL = max(60_000, 3 * ANNOTATORS * POLLS)  # batches of 1 to 5, 3 on average, each one new items at most
CHUNK = 50_000  # items per request, under the request-size limit


def test_fifty_annotators_never_share_an_item(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        with Client(server.url) as client:
            # leases under traffic are what is tested: /next never waits for a round here
            pid = client.create_project(name="load", labels=["a", "b"], dedup="off", lease_seconds=1, retrain_every=500,
                                        stabilize=None, max_stale_labels=None)["id"]
            for start in range(0, POOL, CHUNK):
                client.add_items(pid, [{"id": f"i{k}", "features": [k % 17, k % 5]}
                                       for k in range(start, min(POOL, start + CHUNK))])
        # now and then an annotator walks away from its batch for longer than the 1 s lease
        result = run_load(server.url, pid, annotators=ANNOTATORS, polls=POLLS,
                          behaviour=Behaviour(abandon=0.2, breaks=0.02, break_seconds=1.2))
        assert result.errors == 0
        assert len(result.next_seconds) == ANNOTATORS * POLLS  # nobody ran out of work early
        assert violations(result, lease_seconds=1) == []
        regranted = sum(1 for grants in result.grants.values() if len({g[0] for g in grants}) > 1)
        assert regranted > 0  # leases really expired under the traffic
        print(f"\nload: {len(result.next_seconds)} polls, {len(result.acknowledged)} labels, "
              f"{regranted} items re-leased after expiry, {result.requests / result.wall_seconds:.0f} req/s")
        with Client(server.url) as client:
            rows = client.export(pid)
        stored = {r["item_id"] for r in rows}
        assert len(rows) == len(stored)  # no item labeled twice
        assert set(result.acknowledged) <= stored  # every acknowledged label is there
    finally:
        server.stop()
