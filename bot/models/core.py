"""Shoppers, inbound webhook events and the conversation log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.db import Base


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings so migrations stay portable and values readable in SQL.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class FollowState(enum.StrEnum):
    FOLLOWING = "following"
    BLOCKED = "blocked"
    # A member known only by e-mail or phone (no LINE user): reached by those channels only.
    NOT_ON_LINE = "not_on_line"


class Shopper(Base):
    """A LINE user who has talked to the account, and (once linked) the shop's member."""

    __tablename__ = "shoppers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a member known only by contact (e-mail or phone; see docs/delivery-engine.md).
    line_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    picture_url: Mapped[str | None] = mapped_column(String(1000))
    language: Mapped[str | None] = mapped_column(String(16))
    follow_state: Mapped[FollowState] = mapped_column(_enum(FollowState))
    followed_at: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]
    follow_count: Mapped[int] = mapped_column(default=0)
    # The LINE event time of the follow or unfollow that set follow_state: an older event
    # (a redelivery handled after a newer one) must not change the state back.
    follow_changed_at: Mapped[datetime | None]
    member_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    linked_at: Mapped[datetime | None]
    # The member a contact-only row stands for (line_user_id is None); merged into the LINE
    # shopper when that member links.
    contact_member_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    marketing_opt_in: Mapped[bool] = mapped_column(default=True)
    opt_in_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    messages: Mapped[list[ConversationMessage]] = relationship(
        back_populates="shopper", passive_deletes=True
    )

    @property
    def is_following(self) -> bool:
        return self.follow_state is FollowState.FOLLOWING


class FollowEvent(Base):
    """One follow or block of the account by a shopper, as LINE reported it: the history the
    report reads blocks from (the shopper row holds only the present state)."""

    __tablename__ = "follow_events"
    __table_args__ = (UniqueConstraint("shopper_id", "at", "following"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    following: Mapped[bool]  # False: blocked (unfollow)
    at: Mapped[datetime]  # the event's own time


class WebhookEventState(enum.StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    HANDLED = "handled"
    IGNORED = "ignored"
    FAILED = "failed"


class WebhookEvent(Base):
    """One LINE webhook event as received; the unique event id makes redelivery harmless."""

    __tablename__ = "webhook_events"
    # The sweep and the failed-events gauge look only at events not yet done; handled and
    # ignored rows (nearly all of them) stay out of this index.
    __table_args__ = (
        Index(
            "ix_webhook_events_open_state_received",
            "state",
            "received_at",
            postgresql_where=text("state IN ('received', 'processing', 'failed')"),
            sqlite_where=text("state IN ('received', 'processing', 'failed')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    line_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    is_redelivery: Mapped[bool] = mapped_column(default=False)
    state: Mapped[WebhookEventState] = mapped_column(_enum(WebhookEventState))
    error: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class LineChat(Base):
    """A chat the bot has seen outside the plain one-to-one rules: a group or room it was
    added to (told once that it only talks one-to-one, then left), or a chat whose control
    another channel holds (standby)."""

    __tablename__ = "line_chats"

    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # groupId, roomId, userId
    kind: Mapped[str] = mapped_column(String(16))  # "group", "room" or "user"
    # LINE event time of the group/room event that got the one-to-one notice: a `join`
    # after it is a new invitation and gets the notice again.
    told_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    # Chat control (activated/deactivated): True while another channel answers this chat.
    standby: Mapped[bool] = mapped_column(default=False)
    control_expires_at: Mapped[datetime | None]
    control_changed_at: Mapped[datetime | None]  # event time of the switch applied last
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class Sender(enum.StrEnum):
    SHOPPER = "shopper"
    BOT = "bot"
    STAFF = "staff"


class ConversationMessage(Base):
    """Every message in or out, for the operator console and for audit."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index("ix_conversation_messages_shopper_created", "shopper_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    sender: Mapped[Sender] = mapped_column(_enum(Sender))
    message_type: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    webhook_event_id: Mapped[str | None] = mapped_column(String(64))
    delivery_id: Mapped[int | None]
    staff_id: Mapped[int | None]
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    shopper: Mapped[Shopper] = relationship(back_populates="messages")
