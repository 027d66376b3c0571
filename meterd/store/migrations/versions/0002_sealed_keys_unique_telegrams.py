"""anomalies.acknowledged defaults to false; raw telegrams stored once (by digest); meter keys sealed

Revision ID: 0002
Revises: 0001

Keys stored in plain text by 0001 are sealed by `Store.upgrade()` right after this revision, with the
key-encryption key (it needs the KEK file, which a migration script does not see).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anomalies") as batch_op:
        batch_op.alter_column("acknowledged", existing_type=sa.Boolean(), server_default=sa.false())
    with op.batch_alter_table("meter_keys") as batch_op:
        batch_op.alter_column("key", existing_type=sa.LargeBinary(length=16), type_=sa.LargeBinary())
    op.add_column("telegrams", sa.Column("digest", sa.LargeBinary(length=32), nullable=True))
    conn = op.get_bind()
    first: dict[bytes, int] = {}
    for tid, raw in conn.execute(sa.text("SELECT id, raw FROM telegrams ORDER BY id")).all():
        digest = hashlib.sha256(bytes(raw)).digest()
        keep = first.setdefault(digest, tid)
        if keep == tid:
            conn.execute(sa.text("UPDATE telegrams SET digest = :d WHERE id = :i"), {"d": digest, "i": tid})
        else:  # the same telegram stored again: readings point to the first copy, the copy goes
            conn.execute(sa.text("UPDATE readings SET telegram_id = :k WHERE telegram_id = :i"), {"k": keep, "i": tid})
            conn.execute(sa.text("DELETE FROM telegrams WHERE id = :i"), {"i": tid})
    with op.batch_alter_table("telegrams") as batch_op:
        batch_op.alter_column("digest", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.create_index("ix_telegrams_digest", ["digest"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("telegrams") as batch_op:
        batch_op.drop_index("ix_telegrams_digest")
        batch_op.drop_column("digest")
    with op.batch_alter_table("anomalies") as batch_op:
        batch_op.alter_column("acknowledged", existing_type=sa.Boolean(), server_default=None)
