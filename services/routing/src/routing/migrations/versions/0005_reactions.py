"""Citizens' reactions to published replies (issue 14): routing_reactions holds each, as the classifier
labelled it; routing_incidents.satisfaction the complainant's (satisfied, not_satisfied, no_reaction;
null before a reply was published).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 05:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_reactions",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("reply_id", sa.String(length=36), nullable=False),
        sa.Column("by_complainant", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    with op.batch_alter_table("routing_reactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_reactions_incident_id"), ["incident_id"], unique=False, if_not_exists=True
        )
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("satisfaction", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("satisfaction")
    with op.batch_alter_table("routing_reactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_reactions_incident_id"))
    op.drop_table("routing_reactions")
