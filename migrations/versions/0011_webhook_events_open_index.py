"""webhook events: a partial index on the events not yet done, for the sweep and the gauge

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OPEN = sa.text("state IN ('received', 'processing', 'failed')")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_events_open_state_received",
        "webhook_events",
        ["state", "received_at"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_events_open_state_received", table_name="webhook_events")
