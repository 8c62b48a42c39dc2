"""Incident priority by reach and velocity, with a bot discount (issue 15): routing_incidents.priority
holds the score with its parts and formula; routing_incident_posts keeps what the priority reads of
each post (the author's followers, the source's reach figures, the fingerprint of its normalised
text). Posts routed before stay null: their `reach` stands in for views.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POST_COLUMNS = ("author_followers", "views", "reposts", "comments", "likes")


def upgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.JSON(), nullable=True))
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        for name in POST_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("text_key", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.drop_column("text_key")
        for name in reversed(POST_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("priority")
