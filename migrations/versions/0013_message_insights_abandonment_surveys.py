"""results: LINE insight figures per aggregation unit and day; abandoned-cart survey answers

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_insights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("unique_impressions", sa.Integer(), nullable=True),
        sa.Column("unique_clicks", sa.Integer(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_insights")),
        sa.UniqueConstraint("unit", "day", name=op.f("uq_message_insights_unit")),
    )
    op.create_table(
        "abandonment_surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("cart_value", sa.Integer(), nullable=True),
        sa.Column("asked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_abandonment_surveys_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abandonment_surveys")),
        sa.UniqueConstraint("cart_id", name=op.f("uq_abandonment_surveys_cart_id")),
    )
    op.create_index(
        "ix_abandonment_surveys_shopper_asked",
        "abandonment_surveys",
        ["shopper_id", "asked_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_abandonment_surveys_shopper_asked", table_name="abandonment_surveys")
    op.drop_table("abandonment_surveys")
    op.drop_table("message_insights")
