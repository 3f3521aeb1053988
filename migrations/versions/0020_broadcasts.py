"""broadcasts: 一斉配信 with their recipients and multicast batches

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("create_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("template_variant", sa.String(length=64), nullable=True),
        sa.Column("template_data", sa.JSON(), nullable=True),
        sa.Column("personalised", sa.Boolean(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("scheduled_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("audience", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("create_key", name=op.f("uq_broadcasts_create_key")),
    )
    op.create_index("ix_broadcasts_state_due", "broadcasts", ["state", "next_due_at"])
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("batch", sa.Integer(), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_broadcast_recipients_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "shopper_id", name="uq_broadcast_recipients_shopper"),
    )
    op.create_index(
        "ix_broadcast_recipients_state_due",
        "broadcast_recipients",
        ["broadcast_id", "state", "due_at"],
    )
    op.create_index(
        "ix_broadcast_recipients_batch", "broadcast_recipients", ["broadcast_id", "batch"]
    )
    op.create_index(
        "ix_broadcast_recipients_shopper_sent", "broadcast_recipients", ["shopper_id", "sent_at"]
    )
    op.create_table(
        "broadcast_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_batches_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_batches")),
        sa.UniqueConstraint("broadcast_id", "number", name="uq_broadcast_batches_number"),
    )


def downgrade() -> None:
    op.drop_table("broadcast_batches")
    op.drop_index("ix_broadcast_recipients_shopper_sent", table_name="broadcast_recipients")
    op.drop_index("ix_broadcast_recipients_batch", table_name="broadcast_recipients")
    op.drop_index("ix_broadcast_recipients_state_due", table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_index("ix_broadcasts_state_due", table_name="broadcasts")
    op.drop_table("broadcasts")
