"""Every instant of the gateway's tables becomes `timestamp with time zone` on PostgreSQL, like every
other service's (issue 16: one UTCDateTime column type, incidents_common.db.UTCDateTime). The stored
values were naive UTC, so they are read as UTC. SQLite keeps no zone either way: nothing to do there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANTS = {
    "gw_incident": (
        "first_response_due", "final_due", "first_response_at", "answered_at", "closed_at", "created_at", "updated_at",
    ),
    "gw_incident_event": ("occurred_at",),
    "gw_post": ("published_at",),
    "gw_client": ("created_at", "revoked_at"),
    "gw_api_key": ("created_at", "revoked_at"),
    "gw_revoked_token": ("expires_at",),
    "gw_webhook": ("created_at",),
    "gw_webhook_delivery": ("next_attempt_at", "created_at", "delivered_at"),
    "gw_open311_token": ("created_at",),
    "gw_held_reply": ("created_at", "decided_at"),
    "gw_surge_alerts": ("window_start", "window_end", "raised_at", "received_at"),
}  # fmt: skip


def _convert(*, to_zone: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in INSTANTS.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                type_=sa.DateTime(timezone=to_zone),
                existing_type=sa.DateTime(timezone=not to_zone),
                postgresql_using=f"{column} AT TIME ZONE 'UTC'",
            )


def upgrade() -> None:
    _convert(to_zone=True)


def downgrade() -> None:
    _convert(to_zone=False)
