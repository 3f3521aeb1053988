"""Is the engine alive? The dispatcher's last run and the oldest delivery that is late.

Read from the database, never from Redis, so a Redis flush can neither hide a stopped
dispatcher nor make a live one look dead. `/healthz`, `flask deliveries health` and the
Prometheus gauges all report what `health_report` and `read_liveness` find.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from bot.core.schedule import DISPATCHER
from bot.delivery.engine import marketing_paused_until
from bot.line.chats import chat_control_summary
from bot.models import Delivery, DeliveryState, PeriodicRun, WebhookEvent, WebhookEventState

if TYPE_CHECKING:
    from bot.core.services import Services

FAILED_EVENTS_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Liveness:
    """What the database says about the engine at `now`."""

    now: datetime
    last_runs: dict[str, datetime]  # periodic job → when its last run finished
    oldest_due: datetime | None  # due_at of the oldest due delivery that is not sent

    @property
    def dispatcher_age(self) -> float | None:
        """Seconds since the dispatcher last finished a run (None: no run recorded yet)."""
        last = self.last_runs.get(DISPATCHER)
        return None if last is None else max(0.0, (self.now - last).total_seconds())

    @property
    def due_age(self) -> float:
        """Seconds the oldest due-but-unsent delivery has been due (0 when none is)."""
        if self.oldest_due is None:
            return 0.0
        return max(0.0, (self.now - self.oldest_due).total_seconds())


def read_liveness(session: Session, now: datetime, lease: timedelta) -> Liveness:
    """The periodic jobs' last runs and the oldest delivery that should have gone out.

    Late means pending and due, or claimed (`sending`) longer than the lease ago (its worker
    died). Marketing rows held back by LINE's monthly limit are waiting on purpose and are
    not counted. Both conditions are ranges on the (state, due_at) index.
    """
    last_runs = dict(session.execute(select(PeriodicRun.name, PeriodicRun.finished_at)).all())
    pending = and_(Delivery.state == DeliveryState.PENDING, Delivery.due_at <= now)
    if marketing_paused_until(session, now) is not None:
        pending = and_(pending, Delivery.marketing.is_(False))
    abandoned = and_(Delivery.state == DeliveryState.SENDING, Delivery.claimed_at < now - lease)
    oldest = session.scalar(select(func.min(Delivery.due_at)).where(or_(pending, abandoned)))
    return Liveness(now=now, last_runs=last_runs, oldest_due=oldest)


@dataclass
class FailedEventsCount:
    """The number of failed webhook events, counted at most every 30 s per process.

    The count reads the partial index on open events, cheap but not free: a scrape every
    few seconds from several Prometheus servers need not repeat it each time.
    """

    value: int | None = None
    counted_at: float = field(default=-1e9)

    def get(self, session: Session) -> int:
        if self.value is None or time.monotonic() - self.counted_at > FAILED_EVENTS_CACHE_SECONDS:
            self.value = session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.state == WebhookEventState.FAILED)
            )
            self.counted_at = time.monotonic()
        return self.value or 0


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


def health_report(services: Services) -> tuple[bool, dict[str, Any]]:
    """Every check with "ok" or what is wrong, and the ages behind them; healthy or not."""
    settings = services.settings
    checks: dict[str, str] = {}
    report: dict[str, Any] = {"checks": checks}
    session = services.db.session()
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; say which part
        session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if checks["database"] != "ok":
        return False, report
    now = services.clock.now()
    try:
        live = read_liveness(session, now, timedelta(seconds=settings.delivery_lease_seconds))
        # Not a check: a chat on standby is answered by another channel, on purpose.
        report["chat_control"] = chat_control_summary(session)
        session.commit()
    except Exception as exc:
        session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
        return False, report
    age = live.dispatcher_age
    report["dispatcher_age_seconds"] = None if age is None else round(age, 1)
    report["oldest_due_age_seconds"] = round(live.due_age, 1)
    report["periodic_jobs"] = {
        name: round((now - at).total_seconds(), 1) for name, at in sorted(live.last_runs.items())
    }
    limit = settings.health_max_dispatch_age_seconds
    if age is None:
        # A new installation: no run yet. A scheduler that never starts still shows up, as
        # soon as a delivery is due, in the check below.
        checks["dispatcher"] = "ok"
    elif age > limit:
        checks["dispatcher"] = f"stale: last run {_seconds(age)} ago (limit {limit} s)"
    else:
        checks["dispatcher"] = "ok"
    due_limit = settings.health_max_due_age_seconds
    if live.due_age > due_limit:
        checks["deliveries"] = (
            f"late: oldest unsent delivery due {_seconds(live.due_age)} ago (limit {due_limit} s)"
        )
    else:
        checks["deliveries"] = "ok"
    return all(value == "ok" for value in checks.values()), report


class LivenessCollector:
    """Gauges computed at scrape time from the app's database (see the module docstring)."""

    def collect(self) -> Iterator[Metric]:
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
