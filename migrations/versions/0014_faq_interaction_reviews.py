"""faq interactions: the 「もしかして」 row a pick answers, and staff's review of a question

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faq_interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asked_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("review_faq_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_faq_interactions_asked_id_faq_interactions"),
            "faq_interactions",
            ["asked_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_faq_interactions_reviewed_by_operators"),
            "operators",
            ["reviewed_by"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_faq_interactions_asked_id"), ["asked_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("faq_interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faq_interactions_asked_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_faq_interactions_reviewed_by_operators"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_faq_interactions_asked_id_faq_interactions"), type_="foreignkey"
        )
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("review_faq_id")
        batch_op.drop_column("review")
        batch_op.drop_column("asked_id")
