"""The review queue (issue 13): incidents awaiting an operator's decision on their classification.

routing_incidents: needs_review and review_reasons (ReviewReason dicts), possibly_critical (a danger
reason under review: the critical clock runs) and danger (the highest danger probability of its
posts). routing_incident_posts.classification: what the classifier said of each post, the previous
values of a correction. Incidents and posts routed before stay out of the queue (false, [], null).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 21:53:56
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("classification", sa.JSON(), nullable=True))

    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("needs_review", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("review_reasons", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("possibly_critical", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("danger", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("danger")
        batch_op.drop_column("possibly_critical")
        batch_op.drop_column("review_reasons")
        batch_op.drop_column("needs_review")

    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.drop_column("classification")
