"""Prometheus's scrape endpoint (the metrics themselves: :mod:`alloop.prometheus`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/metrics/prometheus", response_class=Response)
def prometheus(request: Request) -> Response:
    """Request latency of /next and /labels, queue depth, leases, labels (total and per minute) and
    training round durations, per project, in Prometheus's text format."""
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
