"""Baseline: the api-gateway schema of release fdc6d0c, the last to create its tables with create_all.

Generated from that release's models (theirs and incidents_common's outbox and inbox). A database that
release made has these tables and no alembic_version: the start-up upgrade stamps it here.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 16:58:41.083118
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
        "gw_api_key",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=True),
        sa.Column("official_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "gw_client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=True),
        sa.Column("official_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "gw_incident",
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("region_code", sa.String(), nullable=False),
        sa.Column("region_name", sa.String(), nullable=False),
        sa.Column("city", sa.String(), nullable=True),
        sa.Column("city_norm", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("urgency", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("assignee_id", sa.String(), nullable=True),
        sa.Column("assignee_name", sa.String(), nullable=True),
        sa.Column("department_id", sa.String(), nullable=True),
        sa.Column("department_name", sa.String(), nullable=True),
        sa.Column("assignee", sa.JSON(), nullable=True),
        sa.Column("assignment_explanation", sa.String(), nullable=True),
        sa.Column("post_ids", sa.JSON(), nullable=True),
        sa.Column("complainants", sa.Integer(), nullable=False),
        sa.Column("total_reach", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("first_response_due", sa.DateTime(), nullable=True),
        sa.Column("final_due", sa.DateTime(), nullable=True),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("search_text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_incident_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_incident_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_incident_city_norm"), ["city_norm"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_incident_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_gw_incident_region_code"), ["region_code"], unique=False)
        batch_op.create_index("ix_gw_incident_region_created", ["region_code", "created_at"], unique=False)
        batch_op.create_index("ix_gw_incident_region_status", ["region_code", "status"], unique=False)

    op.create_table(
        "gw_incident_event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("region_code", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("from_status", sa.String(), nullable=True),
        sa.Column("to_status", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("gw_incident_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gw_incident_event_incident_id"),
            ["incident_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_gw_incident_event_region_code"),
            ["region_code"],
            unique=False,
        )

    op.create_table(
        "gw_incident_post",
        sa.Column("post_id", sa.String(), nullable=False),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("post_id"),
    )
    with op.batch_alter_table("gw_incident_post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_incident_post_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "gw_open311_token",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=True),
        sa.Column("jurisdiction_id", sa.String(length=8), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("gw_open311_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_open311_token_external_id"), ["external_id"], unique=False)

    op.create_table(
        "gw_post",
        sa.Column("post_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("author", sa.JSON(), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("reach", sa.JSON(), nullable=True),
        sa.Column("place_hints", sa.JSON(), nullable=True),
        sa.Column("classification", sa.JSON(), nullable=True),
        sa.Column("search_text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("post_id"),
    )
    with op.batch_alter_table("gw_post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_post_external_id"), ["external_id"], unique=False)

    op.create_table(
        "gw_revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_table(
        "gw_webhook",
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
    )
    with op.batch_alter_table("gw_webhook", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_webhook_owner"), ["owner"], unique=False)

    op.create_table(
        "gw_webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gw_webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gw_webhook_delivery_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_gw_webhook_delivery_webhook_id"),
            ["webhook_id"],
            unique=False,
        )

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
    with op.batch_alter_table("gw_webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_webhook_delivery_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_gw_webhook_delivery_status"))

    op.drop_table("gw_webhook_delivery")
    with op.batch_alter_table("gw_webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_webhook_owner"))

    op.drop_table("gw_webhook")
    op.drop_table("gw_revoked_token")
    with op.batch_alter_table("gw_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_post_external_id"))

    op.drop_table("gw_post")
    with op.batch_alter_table("gw_open311_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_open311_token_external_id"))

    op.drop_table("gw_open311_token")
    with op.batch_alter_table("gw_incident_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_incident_post_incident_id"))

    op.drop_table("gw_incident_post")
    with op.batch_alter_table("gw_incident_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gw_incident_event_region_code"))
        batch_op.drop_index(batch_op.f("ix_gw_incident_event_incident_id"))

    op.drop_table("gw_incident_event")
    with op.batch_alter_table("gw_incident", schema=None) as batch_op:
        batch_op.drop_index("ix_gw_incident_region_status")
        batch_op.drop_index("ix_gw_incident_region_created")
        batch_op.drop_index(batch_op.f("ix_gw_incident_region_code"))
        batch_op.drop_index(batch_op.f("ix_gw_incident_created_at"))
        batch_op.drop_index(batch_op.f("ix_gw_incident_city_norm"))
        batch_op.drop_index(batch_op.f("ix_gw_incident_category"))
        batch_op.drop_index(batch_op.f("ix_gw_incident_assignee_id"))

    op.drop_table("gw_incident")
    op.drop_table("gw_client")
    op.drop_table("gw_api_key")
