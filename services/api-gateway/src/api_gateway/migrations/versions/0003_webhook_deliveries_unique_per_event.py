"""gw_webhook_delivery: one delivery per webhook and event.

With several gateway replicas on one PostgreSQL, two dispatchers could fan the same events out to the
same webhook. The dispatcher now locks each webhook while it fans out (SKIP LOCKED), and this unique
index is the backstop its insert relies on (ON CONFLICT DO NOTHING). A database where that race
already happened keeps the oldest delivery of each pair, so the index can be built.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:08:25.366849
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM gw_webhook_delivery WHERE id NOT IN "
        "(SELECT min(id) FROM gw_webhook_delivery GROUP BY webhook_id, event_id)"
    )
    op.create_index(
        "ux_gw_webhook_delivery_webhook_event", "gw_webhook_delivery", ["webhook_id", "event_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_gw_webhook_delivery_webhook_event", table_name="gw_webhook_delivery")
