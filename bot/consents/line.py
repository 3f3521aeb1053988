"""LINE's 「配信停止」/「配信再開」 in the consent history of linked shoppers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.consents.service import record_consent
from bot.core import signals
from bot.models import Shopper


def on_consent_stated(
    _sender: Any,
    *,
    session: Session,
    shopper: Shopper,
    now: datetime,
    opt_in: bool,
    source: str,
    at: datetime,
    key: str,
    **_: Any,
) -> None:
    """Record a linked shopper's 「配信停止」/「配信再開」 (once per webhook event).

    The shopper's flag was set by the handler; recording brings it back in step with the
    history if the event is older than the newest record (a LINE redelivery).
    """
    if shopper.member_id is None:
        return  # not a member: the flag alone holds LINE consent until linked
    record_consent(
        session,
        member_id=shopper.member_id,
        channel="line",
        purpose="marketing",
        granted=opt_in,
        occurred_at=at,
        source=source,
        now=now,
        evidence={"webhook_event_id": key},
        request_key=f"line:{key}",
    )


def connect_signals() -> None:
    """Connect the receiver (blinker ignores a receiver connected twice)."""
    signals.marketing_consent_stated.connect(on_consent_stated)
