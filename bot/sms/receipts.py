"""Delivery receipts: the furthest status of each SMS, and what a failed one means.

Status callbacks arrive out of order and more than once; a status only replaces one that
comes before it (queued → sent → delivered / undelivered / failed), so a late "sent" never
undoes "delivered". A message that ends undelivered or failed fails the delivery that sent
it (reference "delivery:<id>"); delivered leaves it "sent".
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.consents import mark_undeliverable
from bot.models import Delivery, DeliveryState, MemberContact, SmsMessage

log = logging.getLogger(__name__)

# How far along each status is; the same rank never replaces another (the first final wins).
RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
FAILED = ("undelivered", "failed")
INBOUND = "inbound"  # the reference of a message a shopper sent us
_DELIVERY_REF = re.compile(r"\Adelivery:([0-9]{1,18})\Z")
# Error codes that say the number itself cannot take SMS (not a passing handset problem):
# 30005 unknown or inactive handset, 30006 landline or unreachable carrier.
_DEAD_NUMBER = {"30005", "30006"}


def record_sent(
    session: Session,
    provider_message_id: str,
    *,
    to: str,
    reference: str,
    status: str,
    now: datetime,
) -> SmsMessage:
    """Write down a message the provider took (the sender calls this after `send`)."""
    return _apply(session, provider_message_id, status, None, to=to, reference=reference, now=now)


def apply_receipt(
    session: Session,
    provider_message_id: str,
    status: str,
    error_code: str | None,
    *,
    to: str | None,
    reference: str | None,
    now: datetime,
) -> SmsMessage:
    """Apply one status callback; returns the message row as it stands after it."""
    return _apply(
        session, provider_message_id, status, error_code, to=to, reference=reference, now=now
    )


def _apply(
    session: Session,
    sid: str,
    status: str,
    error_code: str | None,
    *,
    to: str | None,
    reference: str | None,
    now: datetime,
) -> SmsMessage:
    if status not in RANK:
        raise ValueError(f"unknown SMS status {status!r}")
    # The row may not exist yet: the callback can beat the sender's own write.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(SmsMessage)
        .values(
            provider_message_id=sid,
            reference=reference,
            to=to,
            status="accepted",
            error_code=None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider_message_id"])
    )
    row = session.scalars(
        select(SmsMessage)
        .where(SmsMessage.provider_message_id == sid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    row.reference = row.reference or reference
    row.to = row.to or to
    if RANK[status] > RANK.get(row.status, -1):
        row.status = status
        row.error_code = error_code if status in FAILED else None
        row.updated_at = now
        if status in FAILED:
            _failed(session, row, now)
    session.flush()
    return row


def _failed(session: Session, row: SmsMessage, now: datetime) -> None:
    code = row.error_code or "unknown"
    match = _DELIVERY_REF.match(row.reference or "")
    if match:
        delivery = session.get(Delivery, int(match[1]), with_for_update=True)
        if delivery is not None and delivery.state in (DeliveryState.SENT, DeliveryState.SENDING):
            delivery.state = DeliveryState.FAILED
            delivery.reason = f"sms_undelivered:{code}"
            delivery.updated_at = now
    if code in _DEAD_NUMBER and row.to:
        members = session.scalars(
            select(MemberContact.member_id).where(MemberContact.phone == row.to)
        ).all()
        for member_id in members:
            mark_undeliverable(session, member_id, "sms", now, f"sms_undelivered:{code}")
    log.info("SMS not delivered", extra={"reference": row.reference, "code": code})
