"""Prometheus metrics; with PROMETHEUS_MULTIPROC_DIR set, all processes report together.

Gauges computed at scrape time (the liveness ones, `bot.health`) are passed to
`render_metrics` by the view that serves /metrics.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

WEBHOOK_EVENTS = Counter(
    "bot_webhook_events_total", "LINE webhook events received", ["type", "outcome"]
)
WEBHOOK_REQUESTS = Counter("bot_webhook_requests_total", "Webhook requests", ["status"])
JOBS = Counter("bot_jobs_total", "Background jobs run", ["job", "outcome"])
LINE_API_CALLS = Counter("bot_line_api_calls_total", "LINE API calls", ["endpoint", "status"])
DELIVERIES = Counter("bot_deliveries_total", "Planned deliveries by final state", ["state"])
MONTHLY_LIMIT = Gauge(
    "bot_line_monthly_limit_reached",
    "1 while LINE's monthly message limit is reached",
    multiprocess_mode="max",
)
ACK_SECONDS = Histogram(
    "bot_webhook_ack_seconds",
    "Time to acknowledge a webhook request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)


def render_metrics(*collectors: Collector) -> tuple[bytes, str]:
    """The exposition text for /metrics (aggregated across processes when configured), with
    the gauges of `collectors` computed now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    computed = CollectorRegistry()
    for collector in collectors:
        computed.register(collector)
    return body + generate_latest(computed), CONTENT_TYPE_LATEST
