"""Officials' open incidents counted from a partial index: routing_incidents (assignee_id) where the
status is open. Each batch of classified posts counts the open incidents of the officials it may
assign; through the index on assignee_id alone that read every incident an official ever had, closed
ones too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As routing.incidents.models.OPEN_ASSIGNEE_PREDICATE was at this revision.
OPEN = "status IN ('new', 'assigned', 'in_progress', 'reopened')"


def upgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_incidents_open_assignee",
            ["assignee_id"],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_incidents_open_assignee")
