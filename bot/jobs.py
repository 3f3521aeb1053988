"""RQ jobs: importable module-level functions taking plain ids, idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask, current_app, has_app_context
from rq import Retry, get_current_job

from bot.extensions import Services
from bot.metrics import JOBS

# Dense at first: a reply token lives about a minute, and an answer whose reply failed
# ambiguously can only be settled by replying again with the same token (see messaging).
WEBHOOK_RETRY = Retry(max=7, interval=[1, 3, 8, 15, 30, 120, 600])
_worker_app: Flask | None = None


def _app() -> Flask:
    """The app of the running process: the current one, or one built from the environment."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        from bot import create_app

        _worker_app = create_app()
    return _worker_app


@contextmanager
def job_context(name: str) -> Iterator[Services]:
    """Push the app context, count the outcome and always release the session."""
    app = _app()
    with app.app_context():
        services: Services = app.extensions["bot"]
        try:
            yield services
            services.db.session.commit()
        except BaseException:
            services.db.session.rollback()
            JOBS.labels(name, "error").inc()
            raise
        else:
            JOBS.labels(name, "ok").inc()
        finally:
            services.db.session.remove()


def handle_webhook_events(event_ids: list[int]) -> None:
    """Handle stored webhook events in order (each event commits on its own).

    An event that failed transiently is put back for RQ's retry while the others go on:
    another user's chat must not wait for it. Its first error is raised at the end.
    """
    from handlers.dispatch import process_webhook_event

    with job_context("handle_webhook_events") as services:
        final = _final_attempt()
        deferred: Exception | None = None
        for event_id in event_ids:
            try:
                process_webhook_event(services, event_id, final_attempt=final)
            except Exception as exc:
                services.db.session.rollback()
                deferred = deferred or exc
        if deferred is not None:
            raise deferred


def _final_attempt() -> bool:
    """Whether the running RQ job has no retry left (outside RQ: never, the sweep retries)."""
    job = get_current_job()
    return job is not None and not job.retries_left


# A received event waits this long for its job (or its scheduled retry) before the sweep
# enqueues it again. Short, because a reply token lives about a minute, and RQ's scheduled
# retries can stall for two: a restarted worker takes over the scheduler lock of one that was
# killed only after 120 s, and a Redis flush drops them.
STALE_RECEIVED = timedelta(seconds=15)
# A processing event is taken for interrupted (its worker died) after this.
STALE_PROCESSING = timedelta(minutes=2)


def requeue_stale_webhook_events() -> int:
    """Enqueue events stored but not handled: Redis lost the job or retry, a worker died."""
    from bot.services.webhook_events import stale_event_ids

    with job_context("requeue_stale_webhook_events") as services:
        ids = stale_event_ids(
            services.db.session(), services.clock.now(), STALE_RECEIVED, STALE_PROCESSING
        )
        services.db.session.commit()
        if ids:
            services.queues.webhooks.enqueue(handle_webhook_events, ids, retry=WEBHOOK_RETRY)
        return len(ids)


def replay_failed_webhook_events(services: Services, event_ids: list[int] | None) -> list[int]:
    """Put failed events (these, or all) back to received, commit and enqueue them.

    Only failed events are touched, so a second retry of the same ids does nothing. If the
    enqueue is lost, the events are received and the sweep enqueues them.
    """
    from bot.services.webhook_events import reset_failed_events

    session = services.db.session()
    ids = reset_failed_events(session, event_ids)
    session.commit()
    if ids:
        services.queues.webhooks.enqueue(handle_webhook_events, ids, retry=WEBHOOK_RETRY)
    return ids
