"""cart skus index: which carts hold which product, for restock audiences

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "cart_skus",
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["carts.id"], name=op.f("fk_cart_skus_cart_id_carts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cart_id", "sku", name=op.f("pk_cart_skus")),
    )
    with op.batch_alter_table("cart_skus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_skus_sku"), ["sku"], unique=False)
    _backfill()


def _backfill() -> None:
    """Index the carts stored so far from their own SKU lists."""
    connection = op.get_bind()
    carts = sa.table("carts", sa.column("id", sa.Integer), sa.column("skus", sa.JSON))
    cart_skus = sa.table("cart_skus", sa.column("cart_id", sa.Integer), sa.column("sku"))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(carts.c.id, carts.c.skus)
            .where(carts.c.id > last)
            .order_by(carts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        values = [
            {"cart_id": cart_id, "sku": sku}
            for cart_id, skus in rows
            for sku in sorted({str(s) for s in (skus or [])})
        ]
        if values:
            connection.execute(sa.insert(cart_skus), values)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("cart_skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cart_skus_sku"))
    op.drop_table("cart_skus")
