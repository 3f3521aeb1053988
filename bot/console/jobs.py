"""Console housekeeping: pruning old sign-in attempts (hourly, bot/core/schedule.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.console.operators import prune_login_attempts as _prune_login_attempts
from bot.core.jobs import job_context

LOGIN_ATTEMPTS_KEPT = timedelta(days=30)


def prune_login_attempts() -> int:
    """Delete sign-in attempts older than LOGIN_ATTEMPTS_KEPT; how many."""
    with job_context("prune_login_attempts") as services:
        return _prune_login_attempts(
            services.db.session(), services.clock.now(), LOGIN_ATTEMPTS_KEPT
        )
