"""portal accounts: tenancies (an account holds premises for periods), e-mail, language and consent to
notices, one-time login links, the audit log, the notices already e-mailed, reviews of anomalies

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenancies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("premises_id", sa.Integer(), sa.ForeignKey("premises.id"), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_tenancies_account", "tenancies", ["account_id", "valid_from"])
    # an account bound to one premises before keeps it, for all time
    op.execute(
        "INSERT INTO tenancies (account_id, premises_id, valid_from, valid_to)"
        " SELECT id, premises_id, 0, NULL FROM accounts WHERE premises_id IS NOT NULL"
    )
    # accounts.premises_id stays, unused: SQLite could drop it only by copying the table, which the
    # sessions' foreign key forbids inside the migration's transaction
    op.add_column("accounts", sa.Column("email", sa.String(254), nullable=False, server_default=""))
    op.add_column("accounts", sa.Column("name", sa.String(200), nullable=False, server_default=""))
    op.add_column("accounts", sa.Column("lang", sa.String(2), nullable=False, server_default="pl"))
    op.add_column("accounts", sa.Column("consent_notices", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("accounts", sa.Column("consent_at", sa.BigInteger(), nullable=True))
    op.add_column("accounts", sa.Column("created_at", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "login_links",
        sa.Column("token_hash", sa.LargeBinary(length=32), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("premises", sa.String(64), nullable=False, server_default=""),
        sa.Column("meter", sa.String(32), nullable=False, server_default=""),
        sa.Column("detail", sa.String(300), nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "notices_sent",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("notice", sa.String(120), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "notice", "day", name="pk_notices_sent"),
    )
    op.add_column("anomalies", sa.Column("review", sa.String(16), nullable=True))
    op.add_column("anomalies", sa.Column("reviewed_by", sa.String(64), nullable=True))
    op.add_column("anomalies", sa.Column("reviewed_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("review")
    op.drop_table("notices_sent")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("login_links")
    with op.batch_alter_table("accounts") as batch:
        for column in ("created_at", "consent_at", "consent_notices", "lang", "name", "email"):
            batch.drop_column(column)
    op.execute(
        "UPDATE accounts SET premises_id = (SELECT min(premises_id) FROM tenancies t WHERE t.account_id = accounts.id)"
    )
    op.drop_index("ix_tenancies_account", "tenancies")
    op.drop_table("tenancies")
