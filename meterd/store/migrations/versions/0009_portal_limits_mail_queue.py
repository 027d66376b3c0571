"""the portal's failed logins in the store (shared by every server process; per login, address and
pair), the queue of mail to send (login links go out of band, retried), and the spreadsheet dialect
and encoding a route was imported in (its export keeps them)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_login_failures_key", "login_failures", ["key", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])
    op.create_table(
        "mail_queue",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("next_at", sa.BigInteger(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("done_at", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(300), nullable=False, server_default=""),
    )
    op.create_index("ix_mail_queue_due", "mail_queue", ["done_at", "next_at"])
    op.add_column("routes", sa.Column("csv_dialect", sa.String(8), nullable=False, server_default="plain"))
    op.add_column("routes", sa.Column("csv_encoding", sa.String(32), nullable=False, server_default="utf-8"))


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("csv_encoding")
        batch.drop_column("csv_dialect")
    op.drop_table("mail_queue")
    op.drop_table("login_failures")
