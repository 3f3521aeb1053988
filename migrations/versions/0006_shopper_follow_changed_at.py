"""shopper follow changed at: the LINE event time of the last follow-state change applied

Follow and unfollow events can be handled out of order (a redelivered older follow after a
newer unfollow); this column lets the older one be recognised and ignored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shoppers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("follow_changed_at", UTCDateTime(timezone=True), nullable=True)
        )
    # Until now the state was changed when the event was handled: the best time known.
    op.execute(
        "UPDATE shoppers SET follow_changed_at = "
        "CASE WHEN follow_state = 'blocked' THEN blocked_at ELSE followed_at END"
    )


def downgrade() -> None:
    with op.batch_alter_table("shoppers", schema=None) as batch_op:
        batch_op.drop_column("follow_changed_at")
