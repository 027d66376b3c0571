"""a meter is its manufacturer and serial (serials are unique per maker only), and what every gateway
and walk heard of each meter per day (telegrams, median RSSI, last time), for coverage

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

METER_COLUMNS = "id, serial, manufacturer, medium, driver, kind, q3_m3h, schedule"


def upgrade() -> None:
    op.execute("UPDATE meters SET manufacturer = UPPER(manufacturer)")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite keeps a table's unique constraints in its definition: the table is made anew, under its
        # own name (a renamed table would take the other tables' foreign keys along). Dropping it orphans
        # their rows for a moment: checked at the commit, and found again as its rows come back.
        op.execute("PRAGMA defer_foreign_keys = ON")
        op.execute(f"CREATE TABLE meters_copy AS SELECT {METER_COLUMNS} FROM meters")
        op.execute("DROP TABLE meters")
        op.execute(
            "CREATE TABLE meters (id INTEGER NOT NULL, serial VARCHAR(32) NOT NULL, "
            "manufacturer VARCHAR(8) NOT NULL, medium VARCHAR(32) NOT NULL, driver VARCHAR(32) NOT NULL, "
            "kind VARCHAR(16) NOT NULL, q3_m3h FLOAT NOT NULL, schedule VARCHAR(64) NOT NULL, "
            "PRIMARY KEY (id), CONSTRAINT uq_meters_identity UNIQUE (serial, manufacturer))"
        )
        op.execute(f"INSERT INTO meters ({METER_COLUMNS}) SELECT {METER_COLUMNS} FROM meters_copy ORDER BY id")
        op.execute("DROP TABLE meters_copy")
    else:
        op.drop_constraint("meters_serial_key", "meters", type_="unique")
        op.create_unique_constraint("uq_meters_identity", "meters", ["serial", "manufacturer"])
    op.create_table(
        "hearings",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("manufacturer", sa.String(8), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False, server_default="gateway"),
        sa.Column("telegrams", sa.Integer(), nullable=False),
        sa.Column("rssi_median_dbm", sa.Float(), nullable=True),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", "manufacturer", "gateway", "day", name="pk_hearings"),
    )
    op.create_index("ix_hearings_day", "hearings", ["day"])


def downgrade() -> None:
    op.drop_index("ix_hearings_day", "hearings")
    op.drop_table("hearings")
    with op.batch_alter_table("meters") as batch:
        batch.drop_constraint("uq_meters_identity", type_="unique")
        batch.create_unique_constraint("meters_serial_key", ["serial"])
