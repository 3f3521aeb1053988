"""Operator console: staff accounts, notes, canned replies, survey answers, login attempts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base
from bot.models.core import _enum


class OperatorRole(enum.StrEnum):
    OPERATOR = "operator"
    ADMIN = "admin"


class Operator(Base):
    """A member of the support staff who signs in to the console."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[OperatorRole] = mapped_column(_enum(OperatorRole))
    active: Mapped[bool] = mapped_column(default=True)
    # Changed on logout, password change or reset, and deactivation: every session cookie
    # signed with the old value stops working (Flask's sessions live in the cookie, not on the
    # server).
    session_epoch: Mapped[str] = mapped_column(String(64))
    # Set when an admin gives the account a temporary password: until the operator picks a
    # new one, every console page leads to the password-change page.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        return self.role is OperatorRole.ADMIN


class LoginAttempt(Base):
    """One console sign-in attempt, kept in the database so every worker sees the lockout."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_created", "email", "created_at"),
        Index("ix_login_attempts_ip_created", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    created_at: Mapped[datetime]


class InternalNote(Base):
    """A note staff leave on a ticket; never shown to the shopper."""

    __tablename__ = "internal_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    shopper_id: Mapped[int] = mapped_column(
        ForeignKey("shoppers.id", ondelete="CASCADE"), index=True
    )
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CannedReply(Base):
    """A prepared answer staff insert into the reply box."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SatisfactionResponse(Base):
    """The shopper's one-tap rating (1-5) of a resolved ticket; one per ticket."""

    __tablename__ = "satisfaction_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), unique=True
    )
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    operator_id: Mapped[int | None]
    score: Mapped[int]
    created_at: Mapped[datetime]


class BusinessHoursOverride(Base):
    """Staffed hours set by an admin in the console; replaces BUSINESS_HOURS while present."""

    __tablename__ = "business_hours_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    weekdays: Mapped[str] = mapped_column(String(20))  # "0,1,2,3,4" (0 = Monday)
    start: Mapped[str] = mapped_column(String(5))  # "10:00", shop time
    end: Mapped[str] = mapped_column(String(5))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    updated_at: Mapped[datetime]
