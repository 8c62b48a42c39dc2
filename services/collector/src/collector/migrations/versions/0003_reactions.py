"""reactions: the citizens' comments and messages under published replies (issue 14), once each.

`reactions` keys each ReactionCollected published (reaction_id), so that none goes out twice;
`publications.published_at` starts a reply's watch and `publications.watch_ended` says why it stopped
early (a VK error). Replies published before this revision are watched from their last update, which
for a published row is when it was published.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 05:34:59.821711
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reactions",
        sa.Column("reaction_id", sa.String(length=300), nullable=False),
        sa.Column("reply_id", sa.String(length=100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reaction_id"),
    )
    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reactions_reply_id"), ["reply_id"], unique=False)

    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("watch_ended", sa.Text(), nullable=True))
    op.execute("UPDATE publications SET published_at = updated_at WHERE status = 'published'")


def downgrade() -> None:
    with op.batch_alter_table("publications", schema=None) as batch_op:
        batch_op.drop_column("watch_ended")
        batch_op.drop_column("published_at")

    with op.batch_alter_table("reactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reactions_reply_id"))

    op.drop_table("reactions")
