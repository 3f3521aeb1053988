"""What erasing a member does to contacts and consent records, and what the law keeps.

特定電子メール法 (第3条) asks the sender of marketing e-mail — SMS to a phone number is
e-mail under the Act — to keep a record of each recipient's opt-in, and its ordinance sets
how long: until one month after the last mail to the recipient, or one year when the sender
is under an order of the minister. After an erasure nothing more is sent, so the clock runs
from the erasure; we keep the records `ERASED_CONSENT_KEPT_DAYS` (default 365: the longer
period, since a shop cannot know in advance whether an order will come), then delete them.

Kept: the e-mail and SMS records, pseudonymised — the member id replaced by the keyed hash
the link history uses (`bot.linking.members.tombstone`: the operator holding SECRET_KEY can
find a disputed member's records from the member id; nobody with only the database can), the
idempotency key removed (it may quote the member id), channel, purpose, granted, when, source
and the shop's evidence. Erased: the contact (e-mail, phone), LINE's consent records (not
e-mail under the Act; LINE's own flag goes with the shopper), and the phone number on SMS
delivery rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.linking.members import tombstone
from bot.models import ConsentRecord, MemberContact, SmsMessage

KEPT_CHANNELS = ("email", "sms")  # the channels 特定電子メール法 covers


def erase_member_consents(
    session: Session, member_id: str, _line_user_ids: Sequence[str], *, key: bytes, now: datetime
) -> dict[str, int]:
    """Erase the member's contact and LINE consent records; pseudonymise the e-mail and SMS
    consent records and start their retention period."""
    counts: dict[str, int] = {}
    contact = session.get(MemberContact, member_id)
    if contact is not None and contact.phone is not None:
        counts["sms_messages_anonymised"] = _rows(
            session, update(SmsMessage).where(SmsMessage.to == contact.phone).values(to=None)
        )
    counts["member_contacts"] = _rows(
        session, delete(MemberContact).where(MemberContact.member_id == member_id)
    )
    counts["consent_records"] = _rows(
        session,
        delete(ConsentRecord).where(
            ConsentRecord.member_id == member_id, ConsentRecord.channel.not_in(KEPT_CHANNELS)
        ),
    )
    counts["consent_records_pseudonymised"] = _rows(
        session,
        update(ConsentRecord)
        .where(ConsentRecord.member_id == member_id)
        .values(member_id=tombstone(member_id, key), request_key=None, erased_at=now),
    )
    return counts


def purge_erased(session: Session, now: datetime, kept_days: int) -> int:
    """Delete pseudonymised consent records whose retention period has ended; how many."""
    ended = now - timedelta(days=kept_days)
    result = session.execute(
        delete(ConsentRecord).where(
            ConsentRecord.erased_at.is_not(None), ConsentRecord.erased_at <= ended
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def erased_records(session: Session, member_id: str, key: bytes) -> list[ConsentRecord]:
    """The kept records of an erased member, found from the member id (a dispute)."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.member_id == tombstone(member_id, key))
            .order_by(ConsentRecord.occurred_at, ConsentRecord.id)
        )
    )


def _rows(session: Session, statement: object) -> int:
    result = session.execute(statement.execution_options(synchronize_session=False))  # type: ignore[attr-defined]
    return int(getattr(result, "rowcount", 0) or 0)
