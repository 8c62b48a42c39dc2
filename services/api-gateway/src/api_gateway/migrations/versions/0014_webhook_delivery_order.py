"""An index for the webhook dispatcher, which sends a webhook's deliveries one at a time in sequence
order: it reads each webhook's first pending delivery, then one webhook's pending deliveries by seq.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 17:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gw_webhook_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_gw_webhook_delivery_status_webhook_seq", ["status", "webhook_id", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("gw_webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_gw_webhook_delivery_status_webhook_seq")
