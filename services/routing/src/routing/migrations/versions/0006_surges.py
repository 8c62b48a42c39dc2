"""Surge alerts (issue 15): routing_surge_buckets counts complaints per region, town and category in
time buckets; routing_surge_alerts holds the alerts raised (the cool-down reads them back).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_surge_buckets",
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "city", "category", "bucket_start"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("routing_surge_buckets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_surge_buckets_bucket_start", ["bucket_start"], unique=False, if_not_exists=True
        )
    op.create_table(
        "routing_surge_alerts",
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
        if_not_exists=True,
    )
    with op.batch_alter_table("routing_surge_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_surge_alerts_place",
            ["region_code", "city", "category", "raised_at"],
            unique=False,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_surge_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_surge_alerts_place")
    op.drop_table("routing_surge_alerts")
    with op.batch_alter_table("routing_surge_buckets", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_surge_buckets_bucket_start")
    op.drop_table("routing_surge_buckets")
