"""Baseline: the routing schema of release fdc6d0c, the last to create its tables with create_all.

Generated from that release's models (theirs and incidents_common's outbox and inbox). A database that
release made has these tables and no alembic_version: the start-up upgrade stamps it here.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 16:58:43.269045
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

    op.create_table(
        "routing_deadlines",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("clock", sa.Enum("first_reaction", "final", name="clock"), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "met",
                "breached",
                "paused",
                "cancelled",
                name="deadlinestate",
            ),
            nullable=False,
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("working_seconds", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=300), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_deadlines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_deadlines_incident_id"),
            ["incident_id"],
            unique=False,
        )
        batch_op.create_index("ix_routing_deadlines_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "routing_departments",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("municipality", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_departments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_departments_region_code"),
            ["region_code"],
            unique=False,
        )

    op.create_table(
        "routing_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("escalated_to_id", sa.String(length=100), nullable=True),
        sa.Column("escalated_to_name", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "level", name="uq_routing_escalations_incident_level"),
    )
    with op.batch_alter_table("routing_escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_escalations_incident_id"),
            ["incident_id"],
            unique=False,
        )

    op.create_table(
        "routing_incident_history",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_incident_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_incident_history_incident_id"),
            ["incident_id"],
            unique=False,
        )

    op.create_table(
        "routing_incident_posts",
        sa.Column("post_id", sa.String(length=100), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("author_key", sa.String(length=300), nullable=False),
        sa.Column("author_name", sa.String(length=500), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reach", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id"),
    )
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_incident_posts_external_id"),
            ["external_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_routing_incident_posts_incident_id"),
            ["incident_id"],
            unique=False,
        )

    op.create_table(
        "routing_incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("region_name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("origin_post_id", sa.String(length=100), nullable=False),
        sa.Column("post_ids", sa.JSON(), nullable=False),
        sa.Column("author_keys", sa.JSON(), nullable=False),
        sa.Column("complainants", sa.Integer(), nullable=False),
        sa.Column("total_reach", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.String(length=100), nullable=True),
        sa.Column("assignee_name", sa.String(length=300), nullable=True),
        sa.Column("assignee_position", sa.String(length=500), nullable=True),
        sa.Column("department_id", sa.String(length=100), nullable=True),
        sa.Column("department_name", sa.String(length=500), nullable=True),
        sa.Column("assignment_explanation", sa.Text(), nullable=True),
        sa.Column("rule_id", sa.String(length=20), nullable=True),
        sa.Column("federal_fallback", sa.Boolean(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.Column("escalated_to_id", sa.String(length=100), nullable=True),
        sa.Column("escalated_to_name", sa.String(length=300), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("flag_reason", sa.String(length=500), nullable=True),
        sa.Column("redirect_chain", sa.JSON(), nullable=False),
        sa.Column("reject_reason", sa.String(length=1000), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("reply_url", sa.String(length=2000), nullable=True),
        sa.Column("interim_text", sa.Text(), nullable=True),
        sa.Column("interim_url", sa.String(length=2000), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_post_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_incidents_assignee_id"),
            ["assignee_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_routing_incidents_category"), ["category"], unique=False)
        batch_op.create_index(
            "ix_routing_incidents_cluster",
            ["region_code", "category", "status", "last_post_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_routing_incidents_region_code"),
            ["region_code"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_routing_incidents_status"), ["status"], unique=False)

    op.create_table(
        "routing_officials",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("department_id", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("position", sa.String(length=500), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column(
            "role",
            sa.Enum("official", "curator", "deputy_governor", "governor_office", name="role"),
            nullable=False,
        ),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("municipalities", sa.JSON(), nullable=False),
        sa.Column("work_start", sa.String(length=5), nullable=False),
        sa.Column("work_end", sa.String(length=5), nullable=False),
        sa.Column("work_days", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("on_leave", sa.Boolean(), nullable=False),
        sa.Column("assignments_total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_officials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_officials_department_id"),
            ["department_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_routing_officials_region_code"),
            ["region_code"],
            unique=False,
        )

    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("municipality", sa.String(length=200), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.Column("department_id", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rules_priority"), ["priority"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_rules_region_code"), ["region_code"], unique=False)

    op.create_table(
        "routing_skipped_posts",
        sa.Column("post_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id"),
    )
    op.create_table(
        "routing_sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=2), nullable=True),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.Column("first_reaction_hours", sa.Float(), nullable=False),
        sa.Column("interim_days", sa.Float(), nullable=False),
        sa.Column("final_days", sa.Float(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_sla_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_sla_policies_region_code"),
            ["region_code"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_sla_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_sla_policies_region_code"))

    op.drop_table("routing_sla_policies")
    op.drop_table("routing_skipped_posts")
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rules_region_code"))
        batch_op.drop_index(batch_op.f("ix_routing_rules_priority"))

    op.drop_table("routing_rules")
    with op.batch_alter_table("routing_officials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_officials_region_code"))
        batch_op.drop_index(batch_op.f("ix_routing_officials_department_id"))

    op.drop_table("routing_officials")
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_incidents_status"))
        batch_op.drop_index(batch_op.f("ix_routing_incidents_region_code"))
        batch_op.drop_index("ix_routing_incidents_cluster")
        batch_op.drop_index(batch_op.f("ix_routing_incidents_category"))
        batch_op.drop_index(batch_op.f("ix_routing_incidents_assignee_id"))

    op.drop_table("routing_incidents")
    with op.batch_alter_table("routing_incident_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_incident_posts_incident_id"))
        batch_op.drop_index(batch_op.f("ix_routing_incident_posts_external_id"))

    op.drop_table("routing_incident_posts")
    with op.batch_alter_table("routing_incident_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_incident_history_incident_id"))

    op.drop_table("routing_incident_history")
    with op.batch_alter_table("routing_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_escalations_incident_id"))

    op.drop_table("routing_escalations")
    with op.batch_alter_table("routing_departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_departments_region_code"))

    op.drop_table("routing_departments")
    with op.batch_alter_table("routing_deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_deadlines_state_due")
        batch_op.drop_index(batch_op.f("ix_routing_deadlines_incident_id"))

    op.drop_table("routing_deadlines")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_id"))

    op.drop_table("outbox")
    op.drop_table("inbox")
    # PostgreSQL keeps the enum types the tables used (SQLite has none).
    for name in ("clock", "deadlinestate", "role"):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
