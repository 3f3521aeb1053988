"""RQ jobs of the step-delivery engine: the periodic dispatcher and the batch sender."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from redis.exceptions import RedisError
from rq import Retry

from bot.core.jobs import job_context
from bot.core.queues import Queues
from bot.core.services import Services
from bot.core.settings import Settings
from bot.delivery import dormancy
from bot.delivery import engine as deliveries
from bot.delivery import events as shop_events
from bot.delivery.receivers import delivery_rules
from bot.delivery.sender import DeliverySender
from bot.email.smtp import Mailer
from bot.line.beacon import delivery_alive_key, live_ids, mark_alive

log = logging.getLogger(__name__)

RESTOCK_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
SEND_BATCH = 100  # deliveries per RQ job
CLAIM_CHUNK = 1000  # rows claimed per transaction
MAX_PER_TICK = 50_000  # bounds one tick; the next tick takes the rest
# Claimed rows wait in Redis only this deep: send jobs beyond it are not enqueued, and their
# rows stay pending (the database is the backlog), so a slow LINE or a stopped sender cannot
# make rows wait in the queue past their lease. 100 batches per 10 s tick allow 1,000/s.
MAX_QUEUED_BATCHES = 100
# A `sending` row whose alive key has lapsed (bot.line.beacon: set for the lease when queued,
# renewed every few seconds by the sender) is claimed again once it is this old, instead of
# after the whole lease: a killed sender's batch goes out again within a dispatcher tick or
# two. Twice the key's life, so keys lost with a Redis flush are renewed before it counts.
DEAD_SENDER = timedelta(seconds=20)


def dispatch_due_deliveries() -> int:
    """Claim due deliveries in chunks and enqueue one send job per batch; returns the count."""
    with job_context("dispatch_due_deliveries") as services:
        session = services.db.session()
        lease = timedelta(seconds=services.settings.delivery_lease_seconds)
        now = services.clock.now()
        include_marketing = deliveries.marketing_paused_until(session, now) is None
        queue = services.queues.deliveries
        room = min(MAX_PER_TICK, max(0, MAX_QUEUED_BATCHES - queue.count) * SEND_BATCH)
        total = 0
        while total < room:
            ids = deliveries.claim_due(
                session,
                now,
                limit=min(CLAIM_CHUNK, room - total),
                lease=lease,
                include_marketing=include_marketing,
                dead_after=DEAD_SENDER,
                alive=lambda rows: live_ids(services.redis, delivery_alive_key, rows),
            )
            # Committed before enqueueing: if Redis loses the jobs, the rows stay `sending`
            # and come back (see DEAD_SENDER); nothing depends on Redis remembering them.
            session.commit()
            # Alive while queued, for the lease; the sender keeps them alive while it sends.
            _mark_queued(services, ids, lease)
            for start in range(0, len(ids), SEND_BATCH):
                queue.enqueue(
                    send_deliveries,
                    ids[start : start + SEND_BATCH],
                    result_ttl=0,
                    failure_ttl=24 * 3600,
                    # Past the lease its rows are claimed again; the job is then redundant.
                    ttl=services.settings.delivery_lease_seconds,
                    job_timeout=services.settings.delivery_lease_seconds,
                )
            total += len(ids)
            if len(ids) < CLAIM_CHUNK:
                break
        if total:
            log.info("deliveries dispatched", extra={"count": total})
        return total


def _mark_queued(services: Services, ids: Sequence[int], lease: timedelta) -> None:
    try:
        mark_alive(services.redis, delivery_alive_key, ids, int(lease.total_seconds()))
    except RedisError as exc:  # the lease still brings lost rows back
        log.warning("could not mark queued deliveries alive", extra={"error": str(exc)})


def mailer_factory(settings: Settings) -> Callable[[], Mailer] | None:
    """A new SMTP session per batch, when SMTP_URL is set (else e-mail is never chosen)."""
    url = settings.smtp_url
    if not url:
        return None
    return lambda: Mailer.from_url(url, settings.smtp_timeout)


def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    """Send a batch of claimed deliveries: one read, pushes on a few threads, one write."""
    with job_context("send_deliveries") as services:
        sender = DeliverySender(
            line=services.line,
            clock=services.clock,
            settings=services.settings,
            book=delivery_rules(services).book,
            templates=services.templates,
            postgres=services.db.dialect == "postgresql",
            threads=services.settings.delivery_send_threads,
            batch_seconds=services.settings.delivery_batch_seconds,
            mailer_factory=mailer_factory(services.settings),
            sms=(lambda: services.sms) if services.sms_factory is not None else None,
        )
        if services.delivery_beacon is None:
            raise RuntimeError("create_app builds the delivery beacon")
        with services.delivery_beacon.holding(delivery_ids):
            counts = sender.send(services.db.session(), delivery_ids)
        log.info("delivery batch done", extra={"count": len(delivery_ids), "outcomes": counts})
        return counts


def enqueue_restock(queues: Queues, shop_event_id: int) -> None:
    """Hand a stored `product.restocked` event to the background (after its commit)."""
    queues.deliveries.enqueue(apply_restock, shop_event_id, retry=RESTOCK_RETRY)


def apply_restock(shop_event_id: int) -> int:
    """Start the restock flows of one stored event; a second run finds it applied."""
    with job_context("apply_restock") as services:
        started = shop_events.apply_restock(
            services.db.session(), shop_event_id, delivery_rules(services), services.clock.now()
        )
        log.info("restock applied", extra={"shop_event_id": shop_event_id, "flows": started})
        return started


def requeue_pending_restocks() -> int:
    """Enqueue restock events whose job was lost (Redis flushed, a worker killed)."""
    with job_context("requeue_pending_restocks") as services:
        cutoff = services.clock.now() - timedelta(minutes=2)
        ids = shop_events.pending_restocks(services.db.session(), cutoff)
        for shop_event_id in ids:
            enqueue_restock(services.queues, shop_event_id)
        return len(ids)


def start_customer_flows() -> dict[str, int]:
    """Daily: start the win-back flows of dormant shoppers and the birthday-month flows."""
    with job_context("start_customer_flows") as services:
        session = services.db.session()
        rules, now, tz = delivery_rules(services), services.clock.now(), services.settings.tz
        started = {
            "win_back": dormancy.start_winbacks(session, rules, now, tz),
            "birthday": dormancy.start_birthdays(session, rules, now, tz),
        }
        session.commit()
        log.info("customer flows started", extra={"counts": started})
        return started
