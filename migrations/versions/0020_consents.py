"""consents: member contacts, the consent history, SMS messages and their delivery status

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_contacts",
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("email_undeliverable_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("phone_undeliverable_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_contacts")),
    )
    op.create_index(op.f("ix_member_contacts_phone"), "member_contacts", ["phone"])
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=True),
        sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
        sa.UniqueConstraint("request_key", name=op.f("uq_consent_records_request_key")),
    )
    op.create_index(
        "ix_consent_records_current",
        "consent_records",
        ["member_id", "channel", "purpose", "occurred_at"],
    )
    op.create_index(op.f("ix_consent_records_erased_at"), "consent_records", ["erased_at"])
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
        sa.Column("to", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint(
            "provider_message_id", name=op.f("uq_sms_messages_provider_message_id")
        ),
    )
    op.create_index(op.f("ix_sms_messages_reference"), "sms_messages", ["reference"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_messages_reference"), table_name="sms_messages")
    op.drop_table("sms_messages")
    op.drop_index(op.f("ix_consent_records_erased_at"), table_name="consent_records")
    op.drop_index("ix_consent_records_current", table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_index(op.f("ix_member_contacts_phone"), table_name="member_contacts")
    op.drop_table("member_contacts")
