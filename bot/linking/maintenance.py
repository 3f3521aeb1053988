"""Periodic clean-up of shop API records: expired idempotency keys, nonces and link tokens."""

from __future__ import annotations

from bot.core.jobs import job_context
from bot.linking import service as linking
from bot.shop_api import idempotency


def purge_expired_link_records() -> int:
    """Delete idempotency records older than 24 h and dead nonces/link tokens (job)."""
    with job_context("purge_expired_link_records") as services:
        session = services.db.session()
        now = services.clock.now()
        return idempotency.purge_expired(session, now) + linking.purge_expired(session, now)
