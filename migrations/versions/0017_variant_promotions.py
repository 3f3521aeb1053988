"""A/B decisions and the delivery report: promoted variants; deliveries by planned time

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "variant_promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("promoted_by", sa.Integer(), nullable=True),
        sa.Column("promoted_by_name", sa.String(length=200), nullable=False),
        sa.Column("promoted_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.String(length=400), nullable=True),
        sa.ForeignKeyConstraint(
            ["promoted_by"],
            ["operators.id"],
            name=op.f("fk_variant_promotions_promoted_by_operators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variant_promotions")),
        sa.UniqueConstraint(
            "scenario_id", "step_id", name=op.f("uq_variant_promotions_scenario_id")
        ),
    )

    # The delivery report reads a period's deliveries from this index alone on PostgreSQL.
    op.create_index(
        "ix_deliveries_due_report",
        "deliveries",
        ["due_at"],
        postgresql_include=[
            "id",
            "scenario_id",
            "step_id",
            "step_index",
            "variant",
            "state",
            "shopper_id",
            "sent_at",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due_report", table_name="deliveries")
    op.drop_table("variant_promotions")
