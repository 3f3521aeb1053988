"""What the shop's messages earned, as LINE and shoppers report it: insight figures per
aggregation unit and day, and the answers to the abandoned-cart question."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class MessageInsight(Base):
    """LINE's statistics of one custom aggregation unit on one day (the shop's time zone).

    LINE hides a figure below 20 users: it is stored as None, never as 0.
    """

    __tablename__ = "message_insights"
    __table_args__ = (UniqueConstraint("unit", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit: Mapped[str] = mapped_column(String(30))
    day: Mapped[date]
    unique_impressions: Mapped[int | None]
    unique_clicks: Mapped[int | None]
    fetched_at: Mapped[datetime]


class PeriodInsight(Base):
    """LINE's statistics of one unit over a period of days, as one figure: a user who opened
    on two of its days counts once. The latest period asked for (LINE answers for up to 31
    days): a broadcast's from its first day, a scenario step's last 30 days.
    """

    __tablename__ = "period_insights"

    unit: Mapped[str] = mapped_column(String(30), primary_key=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    unique_impressions: Mapped[int | None]
    unique_clicks: Mapped[int | None]
    fetched_at: Mapped[datetime]


class AbandonmentSurvey(Base):
    """The one-tap "why did you not buy?" question about a cart, and its answer."""

    __tablename__ = "abandonment_surveys"
    __table_args__ = (
        UniqueConstraint("cart_id"),
        Index("ix_abandonment_surveys_shopper_asked", "shopper_id", "asked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    cart_id: Mapped[str] = mapped_column(String(128))  # the shop's cart id (carts.cart_id)
    trigger: Mapped[str] = mapped_column(String(32))  # "last_reminder" or "cart_cleared"
    cart_value: Mapped[int | None]  # yen, when the cart was asked about
    asked_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None]
