"""walk-by routes: the stops of a route as billing handed them over

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=64), nullable=False, unique=True),
        sa.Column("imported_at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False, server_default=""),
    )
    op.create_table(
        "route_stops",
        sa.Column("route_id", sa.Integer(), sa.ForeignKey("routes.id"), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("premises", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("meter", sa.String(length=32), nullable=False),
        sa.Column("medium", sa.String(length=32), nullable=False, server_default="water"),
        sa.Column("previous_reading", sa.Float(), nullable=True),
        sa.Column("previous_date", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("route_id", "ord", name="pk_route_stops"),
    )


def downgrade() -> None:
    op.drop_table("route_stops")
    op.drop_table("routes")
