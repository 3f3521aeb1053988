"""Support's periodic job: the idle-ticket sweep (scheduled in bot/core/schedule.py)."""

from __future__ import annotations

from bot.core.jobs import job_context
from bot.line.messaging import Messenger
from bot.support import idle


def return_idle_tickets() -> int:
    """Hand chats idle past SUPPORT_IDLE_TIMEOUT_MINUTES back to the bot; how many."""
    with job_context("return_idle_tickets") as services:
        session = services.db.session()
        return idle.return_idle_tickets(
            session,
            Messenger(session, services.line, services.clock),
            services.templates,
            services.settings,
            services.clock.now(),
        )
