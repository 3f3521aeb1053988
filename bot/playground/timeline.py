"""Read-only: a shopper's planned deliveries, oldest due first, for the playground's timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.services import Services
from bot.delivery.engine import member_deliveries
from bot.models import Shopper


def shopper_timeline(services: Services, line_user_id: str) -> list[dict[str, Any]]:
    """Every delivery of the shopper with its state and reason (empty for an unknown user)."""
    session = services.db.session_factory()
    try:
        shopper = session.scalars(
            select(Shopper).where(Shopper.line_user_id == line_user_id)
        ).first()
        if shopper is None:
            return []
        rows = member_deliveries(session, shopper)
    finally:
        session.rollback()
        session.close()
    return sorted(rows, key=lambda row: (row["due_at"], row["id"]))
