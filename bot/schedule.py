"""The periodic jobs the scheduler process keeps registered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rq_scheduler import Scheduler

from bot import delivery_jobs, jobs
from bot.console.jobs import return_idle_tickets
from bot.settings import Settings
from bot.shop_api.maintenance import purge_expired_link_records


def periodic_jobs(settings: Settings) -> list[tuple[Callable[..., Any], int, str]]:
    """(job function, interval in seconds, queue) for every periodic job."""
    return [
        (jobs.requeue_stale_webhook_events, 60, "default"),
        (delivery_jobs.dispatch_due_deliveries, settings.dispatch_interval_seconds, "deliveries"),
        (delivery_jobs.requeue_pending_restocks, 60, "deliveries"),
        (return_idle_tickets, 60, "default"),
        (purge_expired_link_records, 3600, "default"),
    ]


def register_periodic_jobs(scheduler: Scheduler, settings: Settings) -> None:
    """Replace this app's periodic schedule (idempotent across restarts)."""
    for job in list(scheduler.get_jobs()):
        if job.id.startswith("periodic-"):
            scheduler.cancel(job)
    for func, interval, queue in periodic_jobs(settings):
        job_id = f"periodic-{func.__module__.replace('.', '_')}-{func.__name__}"
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=func,
            interval=interval,
            repeat=None,
            queue_name=queue,
            id=job_id,
            result_ttl=interval * 2,
        )
