"""Support tickets: a chat handed from the bot to a person and back."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.db import Base
from bot.models.core import Shopper, _enum


class TicketState(enum.StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class TicketReason(enum.StrEnum):
    ASKED_FOR_PERSON = "asked_for_person"
    FAQ_MISS = "faq_miss"
    NEGATIVE_FEEDBACK = "negative_feedback"


class SupportTicket(Base):
    """One escalated chat; at most one open ticket per shopper."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        Index("ix_support_tickets_state_created", "state", "created_at"),
        # The resolved tab pages newest first by (resolved_at, id).
        Index("ix_support_tickets_state_resolved", "state", "resolved_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(
        ForeignKey("shoppers.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[TicketState] = mapped_column(_enum(TicketState))
    reason: Mapped[TicketReason] = mapped_column(_enum(TicketReason))
    priority: Mapped[int] = mapped_column(default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), index=True)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(32))

    shopper: Mapped[Shopper] = relationship()

    @property
    def is_open(self) -> bool:
        return self.state is not TicketState.RESOLVED
