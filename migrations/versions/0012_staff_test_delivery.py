"""staff test delivery: test recipients, their one-time codes and guesses, the send record

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_test_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("registered_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_staff_test_recipients_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_test_recipients")),
        sa.UniqueConstraint("line_user_id", name=op.f("uq_staff_test_recipients_line_user_id")),
        sa.UniqueConstraint("operator_id", name=op.f("uq_staff_test_recipients_operator_id")),
    )
    op.create_table(
        "staff_test_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_staff_test_codes_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_test_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_staff_test_codes_code_hash")),
    )
    op.create_index(
        op.f("ix_staff_test_codes_operator_id"), "staff_test_codes", ["operator_id"], unique=False
    )
    op.create_table(
        "staff_test_code_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_test_code_attempts")),
    )
    op.create_index(
        "ix_staff_test_code_attempts_user_at",
        "staff_test_code_attempts",
        ["line_user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "staff_test_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_key", sa.String(length=64), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("sent_by", sa.String(length=254), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column("scenario_id", sa.String(length=64), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("line_request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["operators.id"],
            name=op.f("fk_staff_test_sends_recipient_id_operators"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["operators.id"],
            name=op.f("fk_staff_test_sends_sender_id_operators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_test_sends")),
        sa.UniqueConstraint("send_key", "line_user_id", name="uq_staff_test_sends_key_user"),
    )
    op.create_index(
        op.f("ix_staff_test_sends_sender_id"), "staff_test_sends", ["sender_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_test_sends_sender_id"), table_name="staff_test_sends")
    op.drop_table("staff_test_sends")
    op.drop_index("ix_staff_test_code_attempts_user_at", table_name="staff_test_code_attempts")
    op.drop_table("staff_test_code_attempts")
    op.drop_index(op.f("ix_staff_test_codes_operator_id"), table_name="staff_test_codes")
    op.drop_table("staff_test_codes")
    op.drop_table("staff_test_recipients")
