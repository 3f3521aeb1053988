"""product stock: the latest stock the shop reported per SKU (product.stock_changed)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_stock",
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("changed_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_product_stock")),
    )


def downgrade() -> None:
    op.drop_table("product_stock")
