"""An index for the abandoned-cart question's sweep: carts by state and last change

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The sweep looks at open or cleared carts changed in the last weeks; without this index
    # it read the whole table every run. Built CONCURRENTLY on PostgreSQL (outside the
    # migration's transaction), so the EC site's cart events are not blocked while it builds.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_carts_state_changed_at",
            "carts",
            ["state", "changed_at"],
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_carts_state_changed_at", table_name="carts", postgresql_concurrently=True)
