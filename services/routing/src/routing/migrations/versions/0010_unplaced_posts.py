"""Posts a person should place (routing.incidents.models.UnplacedPost): complaints no region could be
found for, and posts the classifier was unsure were complaints.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00
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
        "routing_unplaced_posts",
        sa.Column("post_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("post", sa.JSON(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decided_by", sa.String(length=300), nullable=True),
        sa.Column("incident_id", sa.String(length=36), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("post_id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("routing_unplaced_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_unplaced_posts_region_code", ["region_code"], unique=False, if_not_exists=True
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_unplaced_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_unplaced_posts_region_code")
    op.drop_table("routing_unplaced_posts")
