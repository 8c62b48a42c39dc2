"""gw_incident.priority and priority_parts (issue 15): the score of the incident's priority in an
operator's queue (0 until routing has scored it; its scores start at 2), indexed for sort=priority
like the other sort columns, and the whole Priority (score, parts, formula) for the detail.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("priority_parts", sa.JSON(), nullable=True))
        batch_op.create_index("ix_gw_incident_region_priority", ["region_code", "priority", "incident_id"])
        batch_op.create_index("ix_gw_incident_priority", ["priority", "incident_id"])


def downgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.drop_index("ix_gw_incident_priority")
        batch_op.drop_index("ix_gw_incident_region_priority")
        batch_op.drop_column("priority_parts")
        batch_op.drop_column("priority")
