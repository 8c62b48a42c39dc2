"""Baseline: the classifier schema of release fdc6d0c, the last to create its tables with create_all.

Generated from that release's models (theirs and incidents_common's outbox and inbox). A database that
release made has these tables and no alembic_version: the start-up upgrade stamps it here.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 16:58:41.833640
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifications",
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("is_incident", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("place_hint", sa.String(length=500), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "version"),
    )
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classifications_is_incident"), ["is_incident"], unique=False)
        batch_op.create_index(batch_op.f("ix_classifications_region_code"), ["region_code"], unique=False)

    op.create_table(
        "classifier_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=True),
        sa.Column("post_version", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("place_hint", sa.String(length=500), nullable=True),
        sa.Column("is_incident", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("corrected", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("operator", sa.String(length=128), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("classifier_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classifier_feedback_post_id"), ["post_id"], unique=False)

    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_event_id"), ["event_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_id"))

    op.drop_table("outbox")
    op.drop_table("inbox")
    with op.batch_alter_table("classifier_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classifier_feedback_post_id"))

    op.drop_table("classifier_feedback")
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classifications_region_code"))
        batch_op.drop_index(batch_op.f("ix_classifications_is_incident"))

    op.drop_table("classifications")
