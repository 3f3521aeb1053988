"""Consent records and member contacts: what the engine asks before e-mail or SMS.

Consent is history: every grant and withdrawal is appended, and the current state of a
(member, channel, purpose) is the newest record by when it happened (`occurred_at`). LINE
keeps its own fast flag (`Shopper.marketing_opt_in`), held in step with the records.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.consents.contacts import normalise_email, normalise_phone
from bot.models import ConsentRecord, MemberContact, Shopper
from bot.models.consents import CHANNELS, PURPOSES
from bot.shoppers.service import set_marketing_opt_in

log = logging.getLogger(__name__)

MARKETING = "marketing"


class _Keep:
    """The default of `set_contact`'s addresses: leave the stored one as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


@dataclass(frozen=True)
class Contact:
    """Where a member can be reached outside LINE; *_ok: known and not undeliverable."""

    member_id: str
    email: str | None
    phone: str | None
    email_ok: bool
    phone_ok: bool


def record_consent(
    session: Session,
    *,
    member_id: str,
    channel: str,
    purpose: str,
    granted: bool,
    occurred_at: datetime,
    source: str,
    now: datetime,
    evidence: dict[str, Any] | None = None,
    request_key: str | None = None,
) -> ConsentRecord:
    """Append a grant or withdrawal and return it.

    A record with the same `request_key` is returned instead of a second one. A record that
    happened before the newest one for the member, channel and purpose is kept in the
    history without changing the current state. For LINE, the shopper's flag follows the
    current state.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be aware")
    occurred_at = occurred_at.astimezone(UTC)
    if request_key is not None:
        earlier = _by_key(session, request_key)
        if earlier is not None:
            if channel == "line" and purpose == MARKETING:
                sync_line_flag(session, member_id, now)  # a repeat may follow a flag change
            return earlier
    record = ConsentRecord(
        member_id=member_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        occurred_at=occurred_at,
        recorded_at=now,
        source=source,
        evidence=dict(evidence or {}),
        request_key=request_key,
    )
    if request_key is None:
        session.add(record)
        session.flush()
    else:
        # A concurrent call with the same key: the unique index makes one of them win.
        try:
            with session.begin_nested():
                session.add(record)
        except IntegrityError:
            earlier = _by_key(session, request_key)
            if earlier is None:
                raise
            return earlier
    if channel == "line" and purpose == MARKETING:
        sync_line_flag(session, member_id, now)
    return record


def _by_key(session: Session, request_key: str) -> ConsentRecord | None:
    return session.scalars(
        select(ConsentRecord).where(ConsentRecord.request_key == request_key)
    ).first()


def current_record(
    session: Session, member_id: str, channel: str, purpose: str = MARKETING
) -> ConsentRecord | None:
    """The record that holds the current state: the newest by occurred_at (ties: the one
    recorded last)."""
    return current_records(session, [member_id], channel, purpose).get(member_id)


def current_records(
    session: Session, member_ids: Collection[str], channel: str, purpose: str = MARKETING
) -> dict[str, ConsentRecord]:
    """`current_record` of many members in one query; a member without records is missing."""
    if not member_ids:
        return {}
    newest = (
        func.row_number()
        .over(
            partition_by=ConsentRecord.member_id,
            order_by=(ConsentRecord.occurred_at.desc(), ConsentRecord.id.desc()),
        )
        .label("newest")
    )
    ranked = (
        select(ConsentRecord.id, newest)
        .where(
            ConsentRecord.member_id.in_(sorted(set(member_ids))),
            ConsentRecord.channel == channel,
            ConsentRecord.purpose == purpose,
        )
        .subquery()
    )
    records = session.scalars(
        select(ConsentRecord)
        .join(ranked, ranked.c.id == ConsentRecord.id)
        .where(ranked.c.newest == 1)
    )
    return {record.member_id: record for record in records}


def marketing_consent(session: Session, member_id: str, channel: str) -> bool:
    """Whether the member may receive marketing on `channel` now; False without a record.

    For LINE with no record, the linked shopper's own flag answers (LINE shoppers were
    opted in on follow before records existed).
    """
    return marketing_consents(session, [member_id], channel)[member_id]


def marketing_consents(
    session: Session, member_ids: Collection[str], channel: str
) -> dict[str, bool]:
    """`marketing_consent` of many members, in one query per channel (two for LINE)."""
    records = current_records(session, member_ids, channel)
    answers = {member: record.granted for member, record in records.items()}
    unrecorded = set(member_ids) - set(records)
    if channel == "line" and unrecorded:
        flags = session.execute(
            select(Shopper.member_id, Shopper.marketing_opt_in).where(
                Shopper.member_id.in_(sorted(unrecorded))
            )
        )
        answers |= {member: bool(opt_in) for member, opt_in in flags}
    return {member: answers.get(member, False) for member in member_ids}


def sync_line_flag(session: Session, member_id: str, now: datetime) -> None:
    """Set the linked shopper's marketing flag to the current LINE consent record."""
    record = current_record(session, member_id, "line")
    shopper = _member_shopper(session, member_id)
    if record is not None and shopper is not None:
        set_marketing_opt_in(session, shopper, record.granted, now)


def history(session: Session, member_id: str) -> list[ConsentRecord]:
    """Every record of the member, in the order they happened (then as recorded)."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.member_id == member_id)
            .order_by(ConsentRecord.occurred_at, ConsentRecord.id)
        )
    )


def _member_shopper(session: Session, member_id: str) -> Shopper | None:
    return session.scalars(select(Shopper).where(Shopper.member_id == member_id)).first()


# -- contacts ----------------------------------------------------------------------------------


def contact_of(session: Session, member_id: str) -> Contact | None:
    """The member's contact, or None if the shop never gave one."""
    return contacts_of(session, [member_id]).get(member_id)


def contacts_of(session: Session, member_ids: Collection[str]) -> dict[str, Contact]:
    """`contact_of` of many members in one query; a member without a contact is missing."""
    if not member_ids:
        return {}
    rows = session.scalars(
        select(MemberContact).where(MemberContact.member_id.in_(sorted(set(member_ids))))
    )
    return {
        row.member_id: Contact(
            member_id=row.member_id,
            email=row.email,
            phone=row.phone,
            email_ok=row.email is not None and row.email_undeliverable_at is None,
            phone_ok=row.phone is not None and row.phone_undeliverable_at is None,
        )
        for row in rows
    }


def set_contact(
    session: Session,
    member_id: str,
    *,
    email: str | None = KEEP,
    phone: str | None = KEEP,
    now: datetime,
) -> MemberContact:
    """Store the member's e-mail and/or phone (None forgets it; left out: unchanged).

    Addresses are checked and normalised (ContactError says why not); a changed address
    is deliverable again until it bounces.
    """
    row = session.get(MemberContact, member_id)
    if row is None:
        row = MemberContact(member_id=member_id, updated_at=now)
        session.add(row)
    if email is not KEEP:
        new_email = normalise_email(email) if email is not None else None
        if new_email != row.email:
            row.email, row.email_undeliverable_at = new_email, None
    if phone is not KEEP:
        new_phone = normalise_phone(phone) if phone is not None else None
        if new_phone != row.phone:
            row.phone, row.phone_undeliverable_at = new_phone, None
    row.updated_at = now
    session.flush()
    return row


def mark_undeliverable(
    session: Session, member_id: str, channel: str, now: datetime, reason: str
) -> bool:
    """Mark the member's e-mail or phone as undeliverable (bounce, complaint, failed
    receipt); returns False if there is no such address."""
    if channel not in ("email", "sms"):
        raise ValueError(f"channel {channel!r} has no address to mark")
    row = session.get(MemberContact, member_id)
    column = "email" if channel == "email" else "phone"
    if row is None or getattr(row, column) is None:
        return False
    if getattr(row, f"{column}_undeliverable_at") is None:
        setattr(row, f"{column}_undeliverable_at", now)
        row.updated_at = now
    log.info("address marked undeliverable", extra={"channel": channel, "reason": reason[:64]})
    return True
