"""gw_incident.reply: the latest reply or interim answer and where publishing it stands (issue 14), and
gw_incident.satisfaction: the complainant's reaction to it, from the incident snapshots. Incidents read
before hold null until their next snapshot.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("satisfaction", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.drop_column("satisfaction")
        batch_op.drop_column("reply")
