"""Delivery channels: a delivery's channel, e-mail/SMS hand-off marker, contact-only recipients

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("channel", sa.String(8), nullable=False, server_default="line"))
        # E-mail: the Message-ID; SMS: the provider's message id.
        batch.add_column(sa.Column("message_id", sa.String(255), nullable=True))
        # Committed just before the message is handed to the SMTP server or the SMS provider.
        batch.add_column(sa.Column("handed_off_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("shoppers") as batch:
        # A member known only by e-mail or phone has a shopper row without a LINE user id.
        batch.alter_column("line_user_id", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("contact_member_id", sa.String(128), nullable=True))
        batch.create_unique_constraint("uq_shoppers_contact_member_id", ["contact_member_id"])


def downgrade() -> None:
    op.execute("DELETE FROM shoppers WHERE line_user_id IS NULL")
    with op.batch_alter_table("shoppers") as batch:
        batch.drop_constraint("uq_shoppers_contact_member_id", type_="unique")
        batch.drop_column("contact_member_id")
        batch.alter_column("line_user_id", existing_type=sa.String(64), nullable=False)
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("handed_off_at")
        batch.drop_column("message_id")
        batch.drop_column("channel")
