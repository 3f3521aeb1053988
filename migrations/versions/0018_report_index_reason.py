"""The delivery report's covering index carries the skip and cancel reasons

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BEFORE = [
    "id",
    "scenario_id",
    "step_id",
    "step_index",
    "variant",
    "state",
    "shopper_id",
    "sent_at",
]


def upgrade() -> None:
    # The report groups the period's states, reasons and send days in one pass read from
    # this index alone on PostgreSQL.
    op.drop_index("ix_deliveries_due_report", table_name="deliveries")
    op.create_index(
        "ix_deliveries_due_report",
        "deliveries",
        ["due_at"],
        postgresql_include=[*_BEFORE, "reason"],
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due_report", table_name="deliveries")
    op.create_index(
        "ix_deliveries_due_report", "deliveries", ["due_at"], postgresql_include=_BEFORE
    )
