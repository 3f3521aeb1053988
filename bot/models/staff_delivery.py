"""Test delivery to staff: operators' own LINE accounts, the one-time codes that register them,
the guesses at those codes, and the record of every test send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class StaffRecipient(Base):
    """An operator's own LINE account, which receives test deliveries (one per operator)."""

    __tablename__ = "staff_test_recipients"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), unique=True
    )
    line_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    registered_at: Mapped[datetime]


class StaffCode(Base):
    """A one-time registration code shown in the console; only its keyed hash is stored."""

    __tablename__ = "staff_test_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffCodeAttempt(Base):
    """A code sent to the bot by a LINE user; recent failures lock that user out for a while."""

    __tablename__ = "staff_test_code_attempts"
    __table_args__ = (Index("ix_staff_test_code_attempts_user_at", "line_user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    created_at: Mapped[datetime]


class StaffSend(Base):
    """One test message pushed to one staff account: who sent what to whom, when, and how it
    went. `send_key` is the same for every recipient of one send (and for a double click)."""

    __tablename__ = "staff_test_sends"
    __table_args__ = (
        UniqueConstraint("send_key", "line_user_id", name="uq_staff_test_sends_key_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    send_key: Mapped[str] = mapped_column(String(64))
    # The operator who sent it (None from the command line); `sent_by` names them either way.
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    sent_by: Mapped[str] = mapped_column(String(254))
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    line_user_id: Mapped[str] = mapped_column(String(64))
    scenario_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(64))
    member_id: Mapped[str | None] = mapped_column(String(128))  # None: the sample data
    state: Mapped[str] = mapped_column(String(16))  # sending, sent, duplicate, failed
    error: Mapped[str | None] = mapped_column(Text)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
