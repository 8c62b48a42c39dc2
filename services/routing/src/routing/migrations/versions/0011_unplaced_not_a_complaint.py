"""A dismissed waiting post records whether the person said it was no complaint at all (what the
classifier was taught), so the queue can show it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("routing_unplaced_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_a_complaint", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_unplaced_posts", schema=None) as batch_op:
        batch_op.drop_column("not_a_complaint")
