"""Replies published where the complaint was (issue 14): routing_replies holds each reply or interim
answer and where publishing it stands; routing_incidents.reply_publication the latest one's state;
routing_incident_posts.source_type where a post came from (null for posts routed before).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_replies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("post_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("published_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("routing_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_replies_incident_id"), ["incident_id"], unique=False, if_not_exists=True
        )
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_publication", sa.JSON(), nullable=True))
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_type", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.drop_column("source_type")
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("reply_publication")
    with op.batch_alter_table("routing_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_replies_incident_id"))
    op.drop_table("routing_replies")
