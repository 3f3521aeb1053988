"""Follow events: the history of each shopper's follows and blocks

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("following", sa.Boolean(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_follow_events_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_events")),
        sa.UniqueConstraint(
            "shopper_id", "at", "following", name=op.f("uq_follow_events_shopper_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("follow_events")
