"""gw_held_reply: replies held by the quality guard for the region's curator (issue 14), released or
returned by the curator, or superseded by a better reply.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gw_held_reply",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reply_text", sa.Text(), nullable=False),
        sa.Column("reply_url", sa.String(length=2000), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("author_name", sa.String(length=300), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("suggestions", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("gw_held_reply", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gw_held_reply_region_status", ["region_code", "status", "created_at"], unique=False, if_not_exists=True
        )
        batch_op.create_index(
            batch_op.f("ix_gw_held_reply_incident_id"), ["incident_id"], unique=False, if_not_exists=True
        )


def downgrade() -> None:
    with op.batch_alter_table("gw_held_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_held_reply_incident_id"))
        batch_op.drop_index("ix_gw_held_reply_region_status")
    op.drop_table("gw_held_reply")
