"""RQ jobs of broadcasts: the periodic hand-out of due broadcasts and the sender."""

from __future__ import annotations

import logging

from bot.broadcast import service
from bot.broadcast.sending import BroadcastSender
from bot.core.jobs import job_context
from bot.core.queues import Queues

log = logging.getLogger(__name__)

# A broadcast of 100,000 shoppers takes about a minute; a stuck one ends with its lease.
JOB_TIMEOUT = 1800


def enqueue_send(queues: Queues, broadcast_id: int) -> None:
    """Hand one broadcast to a sender (after the commit that made it due)."""
    queues.deliveries.enqueue(
        send_broadcast,
        broadcast_id,
        job_timeout=JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=24 * 3600,
        description=f"broadcast {broadcast_id}",
    )


def dispatch_due_broadcasts() -> int:
    """Periodic: enqueue a send for every broadcast that is due and not being sent."""
    with job_context("dispatch_due_broadcasts") as services:
        session = services.db.session()
        ids = service.due_for_dispatch(session, services.clock.now())
        session.commit()  # marked before enqueueing: a lost job is handed out again later
        for broadcast_id in ids:
            enqueue_send(services.queues, broadcast_id)
        if ids:
            log.info("broadcasts dispatched", extra={"count": len(ids)})
        return len(ids)


def send_broadcast(broadcast_id: int) -> dict[str, int]:
    """Send what is due of one broadcast; a second copy of the job finds it taken."""
    with job_context("send_broadcast") as services:
        sender = BroadcastSender(
            line=services.line,
            clock=services.clock,
            settings=services.settings,
            templates=services.templates,
            threads=min(4, services.settings.delivery_send_threads),
        )
        return sender.run(services.db.session(), broadcast_id)
