"""the earliest a walk of a route heard one of its meters: a route's export counts readings from there
when it is before the route's import (a walk replayed from an older capture)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("routes", sa.Column("heard_from", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("heard_from")
