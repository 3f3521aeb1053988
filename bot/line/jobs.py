"""RQ jobs of the webhook intake: handle stored events, re-enqueue stale ones, replay failed
ones."""

from __future__ import annotations

from datetime import timedelta

from rq import Retry, get_current_job

from bot.core.jobs import job_context
from bot.core.services import Services
from bot.line.ingest import EventWriter

# Dense at first: a reply token lives about a minute, and an answer whose reply failed
# ambiguously can only be settled by replying again with the same token (see messaging).
WEBHOOK_RETRY = Retry(max=7, interval=[1, 3, 8, 15, 30, 120, 600])


def handle_webhook_events(event_ids: list[int]) -> None:
    """Handle stored webhook events in order (each event commits on its own).

    An event that failed transiently is put back for RQ's retry while the others go on:
    another user's chat must not wait for it. Its first error is raised at the end.
    """
    from bot.line.dispatch import process_webhook_event

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
# A processing event whose worker has not renewed its alive key (bot.line.beacon) is taken
# for interrupted once it is this old: twice the key's life, so a key lost with a Redis flush
# is renewed before the sweep looks again.
STALE_PROCESSING = timedelta(seconds=20)


def requeue_stale_webhook_events() -> int:
    """Enqueue events stored but not handled: Redis lost the job or retry, a worker died."""
    from bot.line.beacon import live_events
    from bot.line.webhook_events import stale_event_ids

    with job_context("requeue_stale_webhook_events") as services:
        ids = stale_event_ids(
            services.db.session(),
            services.clock.now(),
            STALE_RECEIVED,
            STALE_PROCESSING,
            lambda busy: live_events(services.redis, busy),
        )
        services.db.session.commit()
        if ids:
            services.queues.webhooks.enqueue(handle_webhook_events, ids, retry=WEBHOOK_RETRY)
        return len(ids)


def prune_webhook_events() -> int:
    """Delete handled and ignored events older than WEBHOOK_EVENTS_KEPT_DAYS; how many."""
    from bot.line.webhook_events import prune_done_events

    with job_context("prune_webhook_events") as services:
        kept = timedelta(days=services.settings.webhook_events_kept_days)
        return prune_done_events(services.db.session(), services.clock.now() - kept)


def replay_failed_webhook_events(services: Services, event_ids: list[int] | None) -> list[int]:
    """Put failed events (these, or all) back to received, commit and enqueue them.

    Only failed events are touched, so a second retry of the same ids does nothing. If the
    enqueue is lost, the events are received and the sweep enqueues them.
    """
    from bot.line.webhook_events import reset_failed_events

    session = services.db.session()
    ids = reset_failed_events(session, event_ids)
    session.commit()
    if ids:
        services.queues.webhooks.enqueue(handle_webhook_events, ids, retry=WEBHOOK_RETRY)
    return ids


def event_writer(services: Services) -> EventWriter:
    """The webhook intake's group-commit writer, enqueueing each batch for handling."""

    def enqueue(ids: list[int]) -> None:
        services.queues.webhooks.enqueue(handle_webhook_events, ids, retry=WEBHOOK_RETRY)

    return EventWriter(services.db, services.clock, enqueue)
