"""Periodic console jobs (registered in bot/core/schedule.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.console.operators import prune_login_attempts
from bot.core.jobs import job_context
from bot.line.messaging import Messenger
from bot.support.tickets import return_idle_tickets as _return_idle_tickets

LOGIN_ATTEMPTS_KEPT = timedelta(days=30)


def return_idle_tickets() -> int:
    """Hand chats idle past SUPPORT_IDLE_TIMEOUT_MINUTES back to the bot; how many."""
    with job_context("return_idle_tickets") as services:
        session = services.db.session()
        now = services.clock.now()
        returned = _return_idle_tickets(
            session,
            Messenger(session, services.line, services.clock),
            services.templates,
            services.settings,
            now,
        )
        prune_login_attempts(session, now, LOGIN_ATTEMPTS_KEPT)
        return returned
