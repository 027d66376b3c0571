"""readings keep the key of their reading id: the same reading heard by two gateways, or redelivered by
the broker, is stored once (two unique indexes on two half-hour grids offset by a quarter hour, see
meterd.store.ingest.ReadingIn); readings of meters not in the register are kept apart

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("readings", sa.Column("reading_key", sa.BigInteger(), nullable=True))
    op.add_column("readings", sa.Column("dedup_cell", sa.BigInteger(), nullable=True))
    op.add_column("readings", sa.Column("dedup_cell_offset", sa.BigInteger(), nullable=True))
    keyed = sa.text("reading_key IS NOT NULL")  # rows without a key (most of a gateway's) cost no index entry
    for name, cell in (("ux_readings_key_cell", "dedup_cell"), ("ux_readings_key_cell_offset", "dedup_cell_offset")):
        op.create_index(name, "readings", ["reading_key", cell], unique=True, sqlite_where=keyed, postgresql_where=keyed)


    op.create_table(
        "unknown_readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("manufacturer", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("gateway", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("reading", sa.Text(), nullable=False),
    )
    op.create_index("ix_unknown_readings_serial", "unknown_readings", ["serial", "received_at"])


def downgrade() -> None:
    op.drop_table("unknown_readings")
    op.drop_index("ux_readings_key_cell_offset", table_name="readings")
    op.drop_index("ux_readings_key_cell", table_name="readings")
    with op.batch_alter_table("readings") as batch_op:
        batch_op.drop_column("dedup_cell_offset")
        batch_op.drop_column("dedup_cell")
        batch_op.drop_column("reading_key")
