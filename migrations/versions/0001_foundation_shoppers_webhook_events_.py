"""foundation: shoppers, webhook events, conversation log, support tickets

Revision ID: 0001
Revises:
Create Date: 2026-11-22 19:58:01.272202
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.core.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "shoppers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("picture_url", sa.String(length=1000), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column(
            "follow_state",
            sa.Enum("following", "blocked", name="followstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("followed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("blocked_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("follow_count", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("linked_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("marketing_opt_in", sa.Boolean(), nullable=False),
        sa.Column("opt_in_changed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shoppers")),
        sa.UniqueConstraint("line_user_id", name=op.f("uq_shoppers_line_user_id")),
        sa.UniqueConstraint("member_id", name=op.f("uq_shoppers_member_id")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("is_redelivery", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "received",
                "processing",
                "handled",
                "ignored",
                "failed",
                name="webhookeventstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("occurred_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("webhook_event_id", name=op.f("uq_webhook_events_webhook_event_id")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_line_user_id"), ["line_user_id"], unique=False
        )

    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("in", "out", name="direction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "sender",
            sa.Enum("shopper", "bot", "staff", name="sender", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("webhook_event_id", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_conversation_messages_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_shopper_created", ["shopper_id", "created_at"], unique=False
        )

    op.create_table(
        "support_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "waiting", "claimed", "resolved", name="ticketstate", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "asked_for_person",
                "faq_miss",
                "negative_feedback",
                name="ticketreason",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_support_tickets_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_tickets_shopper_id"), ["shopper_id"], unique=False
        )
        batch_op.create_index(
            "ix_support_tickets_state_created", ["state", "created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_support_tickets_state_created")
        batch_op.drop_index(batch_op.f("ix_support_tickets_shopper_id"))

    op.drop_table("support_tickets")
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_shopper_created")

    op.drop_table("conversation_messages")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_events_line_user_id"))

    op.drop_table("webhook_events")
    op.drop_table("shoppers")
