"""Member contacts, the consent history, and SMS messages with their delivery status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base

CHANNELS = ("line", "email", "sms")
PURPOSES = ("marketing",)


class MemberContact(Base):
    """How the shop says a member can be reached outside LINE: e-mail and phone.

    Keyed by the shop's member id (a member need not have linked LINE). An address that
    bounced, complained or failed delivery is kept but marked, so nothing is sent to it.
    """

    __tablename__ = "member_contacts"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(16), index=True)  # E.164: +819012345678
    email_undeliverable_at: Mapped[datetime | None]
    phone_undeliverable_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ConsentRecord(Base):
    """One grant or withdrawal of consent; append-only history.

    The current state of (member, channel, purpose) is the newest record by `occurred_at`
    (when the shopper gave or withdrew it), not by `recorded_at`: a record arriving late is
    kept in the history but does not overturn a newer decision.
    """

    __tablename__ = "consent_records"
    __table_args__ = (
        Index("ix_consent_records_current", "member_id", "channel", "purpose", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Idempotency of the call that made it (an API Idempotency-Key, a provider message id).
    request_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Set when the member was erased and this record kept, pseudonymised, as the law asks;
    # it is deleted once the retention period from then has passed.
    erased_at: Mapped[datetime | None] = mapped_column(index=True)


class SmsMessage(Base):
    """An SMS handed to the provider, and the furthest delivery status reported for it."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(64), unique=True)
    reference: Mapped[str | None] = mapped_column(String(128), index=True)
    to: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
