"""gw_surge_alerts: routing's surge alerts (issue 15), for GET /v1/alerts; they reach the SSE streams
and webhooks through gw_incident_event like incident events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_surge_alerts",
        sa.Column("alert_id", sa.String(), nullable=False),
        sa.Column("region_code", sa.String(), nullable=False),
        sa.Column("region_name", sa.String(), nullable=False),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("statistic", sa.String(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("incident_ids", sa.JSON(), nullable=True),
        sa.Column("post_ids", sa.JSON(), nullable=True),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("gw_surge_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gw_surge_alerts_region_raised",
            ["region_code", "raised_at", "alert_id"],
            unique=False,
            if_not_exists=True,
        )
        batch_op.create_index("ix_gw_surge_alerts_raised", ["raised_at", "alert_id"], unique=False, if_not_exists=True)


def downgrade() -> None:
    with op.batch_alter_table("gw_surge_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_gw_surge_alerts_raised")
        batch_op.drop_index("ix_gw_surge_alerts_region_raised")
    op.drop_table("gw_surge_alerts")
