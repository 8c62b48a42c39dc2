"""gw_incident: the review queue (issue 13) from the incident snapshots.

needs_review, review_reasons (ReviewReason dicts), possibly_critical (a danger reason under review:
routing runs the critical clock) and danger (the highest danger probability of its posts), with an
index for the queue per region. Incidents read before hold false / null until their next snapshot.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("needs_review", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("review_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("possibly_critical", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("danger", sa.Float(), nullable=True))
        batch_op.create_index("ix_gw_incident_review", ["needs_review", "region_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.drop_index("ix_gw_incident_review")
        batch_op.drop_column("danger")
        batch_op.drop_column("possibly_critical")
        batch_op.drop_column("review_reasons")
        batch_op.drop_column("needs_review")
