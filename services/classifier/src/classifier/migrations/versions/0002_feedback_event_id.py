"""classifier_feedback.event_id: the idempotency key of a correction received over NATS (issue 13).

An operator's `correct` action on an incident reaches the classifier as one ClassificationCorrected
event per post; the event's id keys the feedback row, so a redelivered or replayed event is stored
once. Rows from POST /v1/feedback have none (a unique index allows any number of NULLs).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 21:56:32
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("classifier_feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_classifier_feedback_event_id"), ["event_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("classifier_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classifier_feedback_event_id"))
        batch_op.drop_column("event_id")
