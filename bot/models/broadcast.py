"""Broadcasts (一斉配信): one message to a segment of friends, sent in multicast batches.

The database is the record of a broadcast's progress: every recipient's outcome and every
batch with its retry key are stored before LINE is called, so a sender killed mid-send picks
up where it stopped and never sends a batch twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base
from bot.models.core import _enum


class BroadcastState(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time (send now: the next job)
    SENDING = "sending"  # started; batches or deferred recipients remain
    DONE = "done"  # every recipient has an outcome
    CANCELLED = "cancelled"  # cancelled before it started
    REFUSED = "refused"  # not started: the audience exceeded the month's remaining quota
    STOPPED = "stopped"  # LINE's monthly limit came back mid-send: the rest was not sent


class Broadcast(Base):
    """One broadcast as composed in the console, and where its sending stands."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_state_due", "state", "next_due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    # The form's one-time key: a double submit finds the broadcast it created the first time.
    create_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[BroadcastState] = mapped_column(_enum(BroadcastState))
    # The LINE message as composed (for a personalised template: as the preview showed it).
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A registered template and its data, when composed from one; personalised: the
    # shopper's name is filled in per shopper, so it goes out as one push per shopper.
    template: Mapped[str | None] = mapped_column(String(64))
    template_variant: Mapped[str | None] = mapped_column(String(64))
    template_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    personalised: Mapped[bool] = mapped_column(default=False)
    segment: Mapped[str | None] = mapped_column(Text)  # the condition as written; None: all
    scheduled_at: Mapped[datetime]
    # When the sender should look at it next (its time, or the earliest deferred recipient).
    next_due_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]  # a sender is on it until then
    audience: Mapped[int | None]  # recipients when it started
    reason: Mapped[str | None] = mapped_column(Text)  # why refused or stopped (Japanese)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class RecipientState(enum.StrEnum):
    PENDING = "pending"  # to be decided when due
    DEFERRED = "deferred"  # a rule said later (quiet hours, daily cap, chat with staff)
    QUEUED = "queued"  # decided to send: in a batch (multicast) or its own push
    SENT = "sent"
    SKIPPED = "skipped"  # a rule said no (opted out, unfollowed)
    FAILED = "failed"  # LINE refused it
    NOT_SENT = "not_sent"  # LINE's monthly limit stopped the broadcast first


class BroadcastRecipient(Base):
    """One shopper of a broadcast's audience and what happened to their message."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "shopper_id", name="uq_broadcast_recipients_shopper"),
        Index("ix_broadcast_recipients_state_due", "broadcast_id", "state", "due_at"),
        Index("ix_broadcast_recipients_batch", "broadcast_id", "batch"),
        # The daily marketing cap counts a shopper's sends of the day.
        Index("ix_broadcast_recipients_shopper_sent", "shopper_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    state: Mapped[RecipientState] = mapped_column(_enum(RecipientState))
    due_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    batch: Mapped[int | None]  # the multicast batch number it went out in
    sent_at: Mapped[datetime | None]
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class BroadcastBatchState(enum.StrEnum):
    QUEUED = "queued"  # recipients fixed and stored; not yet accepted by LINE
    ACCEPTED = "accepted"
    FAILED = "failed"  # LINE refused the request (4xx) or retries gave up
    NOT_SENT = "not_sent"  # LINE's monthly limit


class BroadcastBatch(Base):
    """One multicast request: its recipients are fixed before it is sent, and its retry key
    follows from (broadcast, number), so a rerun sends the same request with the same key."""

    __tablename__ = "broadcast_batches"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "number", name="uq_broadcast_batches_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    number: Mapped[int]
    state: Mapped[BroadcastBatchState] = mapped_column(_enum(BroadcastBatchState))
    size: Mapped[int]
    attempts: Mapped[int] = mapped_column(default=0)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
