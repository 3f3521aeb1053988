"""segments: member attributes from the shop; deliveries remember a coupon-bearing message

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_attributes",
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("rank", sa.String(length=64), nullable=True),
        sa.Column("birthday_month", sa.Integer(), nullable=True),
        sa.Column("first_order_date", sa.Date(), nullable=True),
        sa.Column("last_order_date", sa.Date(), nullable=True),
        sa.Column("order_count", sa.Integer(), nullable=True),
        sa.Column("lifetime_value", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_attributes")),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("coupon", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("coupon")
    op.drop_table("member_attributes")
