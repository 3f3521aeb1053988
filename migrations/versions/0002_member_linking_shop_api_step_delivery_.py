"""member linking, shop API, step delivery, FAQ, operator console

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:49:40.862073
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    op.create_table(
        "carts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.String(length=128), nullable=False),
        sa.Column("customer_key", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum("open", "cleared", "ordered", name="cartstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("skus", sa.JSON(), nullable=False),
        sa.Column("changed_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carts")),
        sa.UniqueConstraint("cart_id", name=op.f("uq_carts_cart_id")),
    )
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_carts_customer_key"), ["customer_key"], unique=False)

    op.create_table(
        "delivery_engine_flags",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("until", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("set_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_engine_flags")),
    )
    op.create_table(
        "erasure_counts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_erasure_counts")),
    )
    op.create_table(
        "faq_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_state")),
    )
    op.create_table(
        "faqs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("faq_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faqs")),
        sa.UniqueConstraint("faq_id", name=op.f("uq_faqs_faq_id")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("key", name=op.f("uq_idempotency_records_key")),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "issued_link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_token", sa.String(length=255), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_link_tokens")),
        sa.UniqueConstraint("link_token", name=op.f("uq_issued_link_tokens_link_token")),
    )
    with op.batch_alter_table("issued_link_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issued_link_tokens_line_user_id"), ["line_user_id"], unique=False
        )

    op.create_table(
        "link_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("linked", "unlinked", name="linkaction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "api", "account_link", "shopper", name="linksource", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("previous_member_id", sa.String(length=128), nullable=True),
        sa.Column("previous_line_user_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_history")),
    )
    with op.batch_alter_table("link_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_history_line_user_id"), ["line_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_link_history_member_created", ["member_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_history_previous_line_user_id"),
            ["previous_line_user_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_link_history_previous_member_id"), ["previous_member_id"], unique=False
        )

    op.create_table(
        "link_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("link_token", sa.String(length=255), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_nonces")),
        sa.UniqueConstraint("nonce", name=op.f("uq_link_nonces_nonce")),
    )
    with op.batch_alter_table("link_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_nonces_link_token"), ["link_token"], unique=False)
        batch_op.create_index(batch_op.f("ix_link_nonces_member_id"), ["member_id"], unique=False)

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_attempts_email_created", ["email", "created_at"], unique=False
        )
        batch_op.create_index("ix_login_attempts_ip_created", ["ip", "created_at"], unique=False)

    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum("operator", "admin", name="operatorrole", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("customer_key", sa.String(length=200), nullable=False),
        sa.Column("cart_id", sa.String(length=128), nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("shipping", sa.JSON(), nullable=True),
        sa.Column("placed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_orders_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_customer_key"), ["customer_key"], unique=False)

    op.create_table(
        "business_hours_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.String(length=20), nullable=False),
        sa.Column("start", sa.String(length=5), nullable=False),
        sa.Column("end", sa.String(length=5), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["operators.id"],
            name=op.f("fk_business_hours_overrides_updated_by_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_hours_overrides")),
    )
    op.create_table(
        "delivery_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            sa.Enum("active", "ended", name="flowstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("anchor_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("started_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_delivery_flows_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_flows")),
        sa.UniqueConstraint(
            "shopper_id", "scenario_id", "subject", name="uq_delivery_flows_subject"
        ),
    )
    op.create_table(
        "faq_interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=True),
        sa.Column("text_hash", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("faq_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("webhook_event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_faq_interactions_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_interactions")),
    )
    with op.batch_alter_table("faq_interactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_faq_interactions_outcome_created", ["outcome", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_faq_interactions_shopper_created", ["shopper_id", "created_at"], unique=False
        )

    op.create_table(
        "shop_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("customer_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_shop_events_shopper_id_shoppers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_shop_events_event_id")),
    )
    with op.batch_alter_table("shop_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_shop_events_customer_pending", ["customer_key", "applied"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "cancelled",
                "skipped",
                "failed",
                name="deliverystate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", bot.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["delivery_flows.id"],
            name=op.f("fk_deliveries_flow_id_delivery_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_deliveries_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("flow_id", "step_id", name="uq_deliveries_flow_step"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_shopper_sent", ["shopper_id", "sent_at"], unique=False)
        batch_op.create_index("ix_deliveries_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "internal_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_internal_notes_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_internal_notes_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_internal_notes_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_internal_notes")),
    )
    with op.batch_alter_table("internal_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_internal_notes_shopper_id"), ["shopper_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_internal_notes_ticket_id"), ["ticket_id"], unique=False
        )

    op.create_table(
        "satisfaction_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_satisfaction_responses_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_satisfaction_responses_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_responses")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_satisfaction_responses_ticket_id")),
    )
    op.create_table(
        "delivery_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("shopper_id", sa.Integer(), nullable=True),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("content", sa.String(length=128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicked_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_clicks_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_delivery_clicks_shopper_id_shoppers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_clicks")),
    )
    with op.batch_alter_table("delivery_clicks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_clicks_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_clicks_shopper_at", ["shopper_id", "clicked_at"], unique=False
        )

    op.create_table(
        "delivery_conversions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("delivery_ids", sa.JSON(), nullable=False),
        sa.Column("click_id", sa.Integer(), nullable=True),
        sa.Column("ordered_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["click_id"],
            ["delivery_clicks.id"],
            name=op.f("fk_delivery_conversions_click_id_delivery_clicks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shopper_id"],
            ["shoppers.id"],
            name=op.f("fk_delivery_conversions_shopper_id_shoppers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_conversions")),
        sa.UniqueConstraint("order_id", name=op.f("uq_delivery_conversions_order_id")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_tickets_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_support_tickets_operator_id_operators"),
            "operators",
            ["operator_id"],
            ["id"],
        )


def downgrade() -> None:

    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_support_tickets_operator_id_operators"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_support_tickets_operator_id"))

    op.drop_table("delivery_conversions")
    with op.batch_alter_table("delivery_clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_clicks_shopper_at")
        batch_op.drop_index(batch_op.f("ix_delivery_clicks_delivery_id"))

    op.drop_table("delivery_clicks")
    op.drop_table("satisfaction_responses")
    with op.batch_alter_table("internal_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_internal_notes_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_internal_notes_shopper_id"))

    op.drop_table("internal_notes")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state_due")
        batch_op.drop_index("ix_deliveries_shopper_sent")

    op.drop_table("deliveries")
    with op.batch_alter_table("shop_events", schema=None) as batch_op:
        batch_op.drop_index("ix_shop_events_customer_pending")

    op.drop_table("shop_events")
    with op.batch_alter_table("faq_interactions", schema=None) as batch_op:
        batch_op.drop_index("ix_faq_interactions_shopper_created")
        batch_op.drop_index("ix_faq_interactions_outcome_created")

    op.drop_table("faq_interactions")
    op.drop_table("delivery_flows")
    op.drop_table("business_hours_overrides")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_customer_key"))

    op.drop_table("orders")
    op.drop_table("operators")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_ip_created")
        batch_op.drop_index("ix_login_attempts_email_created")

    op.drop_table("login_attempts")
    with op.batch_alter_table("link_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_nonces_member_id"))
        batch_op.drop_index(batch_op.f("ix_link_nonces_link_token"))

    op.drop_table("link_nonces")
    with op.batch_alter_table("link_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_history_previous_member_id"))
        batch_op.drop_index(batch_op.f("ix_link_history_previous_line_user_id"))
        batch_op.drop_index("ix_link_history_member_created")
        batch_op.drop_index(batch_op.f("ix_link_history_line_user_id"))

    op.drop_table("link_history")
    with op.batch_alter_table("issued_link_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issued_link_tokens_line_user_id"))

    op.drop_table("issued_link_tokens")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))

    op.drop_table("idempotency_records")
    op.drop_table("faqs")
    op.drop_table("faq_state")
    op.drop_table("erasure_counts")
    op.drop_table("delivery_engine_flags")
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carts_customer_key"))

    op.drop_table("carts")
    op.drop_table("canned_replies")
