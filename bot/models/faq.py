"""The shop's FAQ knowledge base, its version, and how each automatic answer went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class Faq(Base):
    """One FAQ entry as imported from the shop's YAML file (`faq_id` is the file's id)."""

    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int]
    category: Mapped[str | None] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    variants: Mapped[list[Any]] = mapped_column(JSON)
    keywords: Mapped[list[Any]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FaqState(Base):
    """A single row whose version goes up on every import that changes the FAQ.

    Every process compares it with the version its in-memory matcher was built from, so an
    import takes effect everywhere without a restart.
    """

    __tablename__ = "faq_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    entry_count: Mapped[int]
    source: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime]


# What staff did with an unresolved question: an operator suggested an entry for it (it stays
# listed for an admin), it became a variant of an entry or a new entry, or it was set aside.
FAQ_REVIEWS = ("suggested", "variant", "entry", "dismissed")


class FaqInteraction(Base):
    """One automatic answer to a shopper (answer, suggest, none, human, picked) and its feedback."""

    __tablename__ = "faq_interactions"
    __table_args__ = (
        Index("ix_faq_interactions_shopper_created", "shopper_id", "created_at"),
        Index("ix_faq_interactions_outcome_created", "outcome", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(ForeignKey("shoppers.id", ondelete="CASCADE"))
    # The question, cut short: enough for the shop to see what fails, not a full transcript.
    text: Mapped[str | None] = mapped_column(String(200))
    # Hash of the normalised text, to count the same question asked by many shoppers.
    text_hash: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    faq_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float | None]
    resolved: Mapped[bool | None]
    webhook_event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # On a "picked" row: the "suggest" row whose 「もしかして」 choices the shopper picked from
    # (that row holds the question's text).
    asked_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq_interactions.id", ondelete="SET NULL"), index=True
    )
    # Staff's decision on an unresolved question (see FAQ_REVIEWS); None while it is open.
    review: Mapped[str | None] = mapped_column(String(16))
    review_faq_id: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
