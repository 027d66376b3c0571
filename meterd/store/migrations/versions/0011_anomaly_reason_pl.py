"""an anomaly's reason in Polish too, for the staff's Polish pages, and the comment of its review

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("anomalies", sa.Column("reason_pl", sa.String(300), nullable=True))
    op.add_column("anomalies", sa.Column("review_comment", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("anomalies") as batch:
        batch.drop_column("review_comment")
        batch.drop_column("reason_pl")
