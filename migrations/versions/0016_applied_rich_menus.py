"""richmenu: the rich menus applied to LINE, per menu of the rich menu file

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_rich_menus",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("rich_menu_id", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=True),
        sa.Column("alias_id", sa.String(length=32), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("applied_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_applied_rich_menus")),
    )


def downgrade() -> None:
    op.drop_table("applied_rich_menus")
