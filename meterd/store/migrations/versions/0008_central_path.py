"""the central path: what each gateway has committed (its contiguous seq, and the ranges above it
committed out of order), readings and messages refused with their reasons (and readings stored but
noted, `kept`), and readings whose key was stored before with another content (conflicts, kept for
review)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gateway_seqs",
        sa.Column("gateway", sa.String(64), primary_key=True),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "gateway_seq_ranges",
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("lo", sa.BigInteger(), nullable=False),
        sa.Column("hi", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gateway", "lo", name="pk_gateway_seq_ranges"),
    )
    op.create_table(
        "rejected",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_rejected_at", "rejected", ["at"])
    op.create_table(
        "reading_conflicts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.BigInteger(), nullable=False),
        sa.Column("found_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("total_m3", sa.Float(), nullable=True),
        sa.Column("alarms", sa.Integer(), nullable=False),
        sa.Column("stored_total_m3", sa.Float(), nullable=True),
        sa.Column("stored_alarms", sa.Integer(), nullable=False),
        sa.Column("stored_gateway", sa.String(64), nullable=True),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("review", sa.String(16), nullable=True),
    )
    op.create_index("ux_reading_conflicts_digest", "reading_conflicts", ["digest"], unique=True)
    op.create_index("ix_reading_conflicts_meter", "reading_conflicts", ["meter_id", "measured_at"])


def downgrade() -> None:
    op.drop_table("reading_conflicts")
    op.drop_index("ix_rejected_at", table_name="rejected")
    op.drop_table("rejected")
    op.drop_table("gateway_seq_ranges")
    op.drop_table("gateway_seqs")
