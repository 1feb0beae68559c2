"""Prometheus metrics (``GET /metrics/prometheus``), with the maintained ``prometheus_client``.

Two kinds:

- request latency of ``/next`` and ``/labels``, timed by a pure ASGI middleware (a ``/next`` that
  long-polls counts the time it waited: that is what the annotator saw);
- campaign state, read from the store at scrape time, so it is right after a restart and costs
  nothing between scrapes: queue depth, leased and unlabeled items, labels (total and in the last
  minute), and training round durations as a histogram over every recorded model version.

Each app has its own registry (tests build many apps in one process).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alloop.store import Store
from alloop.store.items import counts
from alloop.store.rounds import CURRENT_GEN

__all__ = ["REQUEST_BUCKETS", "ROUND_BUCKETS", "RequestTimer", "Telemetry"]

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROUND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_TIMED = re.compile(r"^/projects/[^/]+/(next|labels)$")


class _CampaignCollector(Collector):
    """Per-project gauges and counters, read in one short read transaction per scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        now = time.time()
        queue = GaugeMetricFamily("alloop_queue_depth", "Ranked items of the served ranking that nobody "
                                  "labeled or holds.", labels=["project"])
        leased = GaugeMetricFamily("alloop_leased_items", "Unlabeled items under a live lease.", labels=["project"])
        unlabeled = GaugeMetricFamily("alloop_pool_unlabeled", "Pool items without a final label.",
                                      labels=["project"])
        labels = CounterMetricFamily("alloop_labels", "Final labels recorded.", labels=["project"])
        per_minute = GaugeMetricFamily("alloop_labels_per_minute", "Final labels recorded in the last 60 seconds.",
                                       labels=["project"])
        rounds = HistogramMetricFamily("alloop_training_round_seconds", "Training rounds: fitting, evaluating "
                                       "and scoring the pool, per model version.", labels=["project"])
        with self.store.read() as conn:
            for (pid,) in conn.execute("SELECT id FROM projects ORDER BY id").fetchall():
                project = [str(pid)]
                queue.add_metric(project, _queue_depth(conn, pid, now))
                c = counts(conn, pid, now)
                leased.add_metric(project, c["leased"])
                labels.add_metric(project, c["labeled"])
                unlabeled.add_metric(project, c["unlabeled"])
                per_minute.add_metric(project, conn.execute(
                    "SELECT COUNT(*) FROM labels WHERE project_id = ? AND created_at > ?", (pid, now - 60.0)
                ).fetchone()[0])
                durations = [row[0] for row in conn.execute(
                    "SELECT COALESCE(train_seconds, 0) + COALESCE(score_seconds, 0) FROM model_versions "
                    "WHERE project_id = ?", (pid,))]
                buckets = [(_le(bound), sum(1 for d in durations if d <= bound)) for bound in ROUND_BUCKETS]
                rounds.add_metric(project, buckets + [("+Inf", len(durations))], sum_value=float(sum(durations)))
        yield from (queue, leased, unlabeled, labels, per_minute, rounds)


def _le(bound: float) -> str:
    return repr(float(bound))


def _queue_depth(conn: object, project_id: int, now: float) -> int:
    return conn.execute(  # type: ignore[attr-defined]
        "SELECT COUNT(*) FROM queue q WHERE q.project_id = ? AND q.gen = " + CURRENT_GEN.format("?")
        + " AND NOT EXISTS (SELECT 1 FROM labels b WHERE b.item_idx = q.item_idx)"
        " AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.item_idx = q.item_idx AND l.expires_at > ?)",
        (project_id, project_id, now),
    ).fetchone()[0]


class Telemetry:
    """The app's registry: the request histogram and the campaign collector."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "alloop_request_seconds", "Latency of /next and /labels (a long-polling /next includes its wait).",
            labelnames=["endpoint", "status"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self.registry.register(_CampaignCollector(store))



class RequestTimer:
    """Pure ASGI middleware timing POST /projects/{id}/next and /labels; everything else passes by."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.requests = telemetry.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _TIMED.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            self.requests.labels(match.group(1), f"{status // 100}xx").observe(time.perf_counter() - started)
