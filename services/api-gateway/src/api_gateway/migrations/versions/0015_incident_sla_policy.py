"""gw_incident.sla_policy: the SLA policy routing's clocks of the incident follow, by name, shown
with its deadlines.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_policy", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.drop_column("sla_policy")
