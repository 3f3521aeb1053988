"""Console housekeeping: pruning old sign-in attempts, run with support's idle-ticket sweep.

The schedule (bot/core/schedule.py) runs `return_idle_tickets` from here every minute. The
sweep itself is support's (`bot.support.jobs.return_idle_tickets`); this module adds the
pruning to the same periodic run, so the schedule keeps one job under its stable name.
"""

from __future__ import annotations

from datetime import timedelta

from bot.console.operators import prune_login_attempts as _prune_login_attempts
from bot.core.jobs import job_context
from bot.support import jobs as support_jobs

LOGIN_ATTEMPTS_KEPT = timedelta(days=30)


def return_idle_tickets() -> int:
    """The periodic run of that name: support's idle-ticket sweep, then the pruning; how many
    tickets were returned."""
    returned = support_jobs.return_idle_tickets()
    prune_login_attempts()
    return returned


def prune_login_attempts() -> int:
    """Delete sign-in attempts older than LOGIN_ATTEMPTS_KEPT; how many."""
    with job_context("prune_login_attempts") as services:
        return _prune_login_attempts(
            services.db.session(), services.clock.now(), LOGIN_ATTEMPTS_KEPT
        )
