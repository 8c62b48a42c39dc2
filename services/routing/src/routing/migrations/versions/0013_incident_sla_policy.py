"""routing_incidents.sla_policy: the name of the SLA policy its running clocks follow, so that every
incident event says which policy set its deadlines (the gateway shows it beside them).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_policy", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("sla_policy")
