"""Period insights: LINE's unique opens and taps of a broadcast over its days

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "period_insights",
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("unique_impressions", sa.Integer(), nullable=True),
        sa.Column("unique_clicks", sa.Integer(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("unit", name=op.f("pk_period_insights")),
    )


def downgrade() -> None:
    op.drop_table("period_insights")
