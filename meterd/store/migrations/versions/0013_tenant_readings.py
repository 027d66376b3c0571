"""readings tenants report (meters no receiver reads, or a disputed reading): pending until staff
accept or reject them, with an optional photo kept in the store (private)

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("premises_id", sa.Integer(), sa.ForeignKey("premises.id"), nullable=False),
        sa.Column("meter_id", sa.Integer(), sa.ForeignKey("meters.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("total_m3", sa.Float(), nullable=False),
        sa.Column("measured_at", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(16), nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
        sa.Column("review_comment", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tenant_readings_status", "tenant_readings", ["status", "submitted_at"])
    op.create_index("ix_tenant_readings_premises", "tenant_readings", ["premises_id", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_tenant_readings_premises", "tenant_readings")
    op.drop_index("ix_tenant_readings_status", "tenant_readings")
    op.drop_table("tenant_readings")
