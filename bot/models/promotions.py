"""A/B decisions: the variant an admin promoted to winner of a scenario step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class VariantPromotion(Base):
    """The winning variant of a step: every new plan takes it (weight 100, the others 0)."""

    __tablename__ = "variant_promotions"
    __table_args__ = (UniqueConstraint("scenario_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(64))
    promoted_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"))
    promoted_by_name: Mapped[str] = mapped_column(String(200))  # kept if the account goes
    promoted_at: Mapped[datetime]
    # What the figures said when the admin decided (CVR difference and its interval).
    evidence: Mapped[str | None] = mapped_column(String(400))
