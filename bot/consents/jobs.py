"""Periodic clean-up of consent records kept after an erasure."""

from __future__ import annotations

from bot.consents.erasure import purge_erased
from bot.core.jobs import job_context


def purge_erased_consents() -> int:
    """Delete erased members' consent records past their retention period (daily job)."""
    with job_context("purge_erased_consents") as services:
        return purge_erased(
            services.db.session(), services.clock.now(), services.settings.erased_consent_kept_days
        )
