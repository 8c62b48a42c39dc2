"""An index for the scanner's look-up of clocks whose warning is due (pending, not yet warned, the
warning time passed), so that a pass reads the clocks that are due instead of every pending one.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_routing_deadlines_state_warning", "routing_deadlines", ["state", "warned_at", "warn_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_routing_deadlines_state_warning", table_name="routing_deadlines")
