"""line chats: groups and rooms the bot was added to and left, and chat control per chat

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "line_chats",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("told_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("standby", sa.Boolean(), nullable=False),
        sa.Column("control_expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("control_changed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_line_chats")),
    )


def downgrade() -> None:
    op.drop_table("line_chats")
