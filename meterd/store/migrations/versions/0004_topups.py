"""the top-up ledger of prepaid meters: credit sold (amount, who, when, the vending system's token)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("meter_id", sa.Integer(), sa.ForeignKey("meters.id"), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False, server_default="PLN"),
        sa.Column("sold_at", sa.BigInteger(), nullable=False),
        sa.Column("sold_by", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("token", sa.String(length=20), nullable=False),
        sa.Column("vendor_ref", sa.String(length=64), nullable=False, server_default=""),
        sa.UniqueConstraint("meter_id", "token", name="uq_topups_meter_token"),
    )
    op.create_index("ix_topups_meter", "topups", ["meter_id", "sold_at"])


def downgrade() -> None:
    op.drop_table("topups")
