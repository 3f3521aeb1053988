"""What the shop tells about its members for segments: tags, rank, birthday month, orders."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class MemberAttributes(Base):
    """A member's attributes as the shop last sent them (PUT replaces them all).

    Keyed by the shop's member id, so a member who has not linked a LINE account yet may
    have them; a null is "the shop did not say", which no condition takes as true.
    """

    __tablename__ = "member_attributes"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    rank: Mapped[str | None] = mapped_column(String(64))
    birthday_month: Mapped[int | None]
    first_order_date: Mapped[date | None]
    last_order_date: Mapped[date | None]
    order_count: Mapped[int | None]
    lifetime_value: Mapped[int | None]  # yen
    updated_at: Mapped[datetime]
