"""gw_webhook_secret: webhook secrets encrypted at rest, in a table of their own.

The release before kept each secret in plaintext in gw_webhook.secret (VARCHAR(200) on PostgreSQL, too
short for a ciphertext). The dispatcher moves such secrets into this table at start-up (and `python -m
api_gateway rotate` does too), so this revision only creates the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 16:58:59.107629
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: development databases made by create_all between that release and this revision
    # already have the table but no version table, so they are stamped at the baseline like a release's.
    op.create_table(
        "gw_webhook_secret",
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    # The encrypted secrets go with the table: webhooks of a downgraded gateway need new secrets.
    op.drop_table("gw_webhook_secret")
