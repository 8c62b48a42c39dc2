"""gw_incident.revision: the revision of the snapshot the row holds.

Routing's created and assigned events carry the same updated_at, and between routing replicas
updated_at can even go back; with two gateway replicas (or a redelivery) snapshots arrive in any
order, and ordering them by time left incidents "new" or a post short. The revision orders them.
Rows written before this revision start at 0, below any snapshot's.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_incident") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("gw_incident") as batch:
        batch.drop_column("revision")
