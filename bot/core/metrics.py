"""Prometheus metrics; with PROMETHEUS_MULTIPROC_DIR set, all processes report together.

The liveness gauges (dispatcher age, oldest late delivery, failed webhook events) are not
kept in any process: the web process that answers a scrape reads them from the database
(`bot.health.liveness`), so every gunicorn process gives the same answer and nothing needs
adding up across processes, or survives a restart wrongly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

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


class LivenessCollector:
    """Gauges computed at scrape time from the app's database (see the module docstring)."""

    def collect(self) -> Iterator[Metric]:
        from flask import current_app, has_app_context

        from bot.health.liveness import FailedEventsCount, read_liveness

        if not has_app_context() or "bot" not in current_app.extensions:
            return
        services = current_app.extensions["bot"]
        session = services.db.session()
        try:
            live = read_liveness(
                session,
                services.clock.now(),
                timedelta(seconds=services.settings.delivery_lease_seconds),
            )
            failed = current_app.extensions.setdefault("failed_events", FailedEventsCount())
            failed_count = failed.get(session)
            session.commit()
        except Exception:  # the database is down: /healthz says so; leave the gauges out
            session.rollback()
            return
        if live.dispatcher_age is not None:
            yield GaugeMetricFamily(
                "bot_dispatcher_last_run_age_seconds",
                "Seconds since the delivery dispatcher last finished a run",
                value=live.dispatcher_age,
            )
        yield GaugeMetricFamily(
            "bot_deliveries_oldest_due_age_seconds",
            "Seconds the oldest due but unsent delivery has waited (0: none late)",
            value=live.due_age,
        )
        yield GaugeMetricFamily(
            "bot_webhook_events_failed",
            "Webhook events whose handling failed (replayable); counted every 30 s at most",
            value=failed_count,
        )


def render_metrics() -> tuple[bytes, str]:
    """The exposition text for /metrics (aggregated across processes when configured)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    liveness = CollectorRegistry()
    liveness.register(LivenessCollector())  # type: ignore[arg-type]
    return body + generate_latest(liveness), CONTENT_TYPE_LATEST
