"""The directory's version (routing.directory.models.DirectoryVersion): one row that triggers on the departments,
officials, rules and SLA policies move on every change, so that a routing replica may keep the
directory it loaded until the version moves.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from routing.directory.models import FIRST_ROW, VERSION_TABLE, trigger_statements

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns whose change moves the version, as the tables were at this revision (an official's
# round-robin counter, assignments_total, is left out).
WATCHED = {
    "routing_departments": [
        "id", "region_code", "name", "kind", "municipality", "email", "phone", "active", "created_at", "updated_at",
    ],
    "routing_officials": [
        "id", "region_code", "department_id", "name", "position", "email", "phone", "role", "categories",
        "municipalities", "work_start", "work_end", "work_days", "timezone", "capacity", "active", "on_leave",
        "created_at", "updated_at",
    ],
    "routing_rules": [
        "id", "priority", "region_code", "category", "municipality", "urgency", "department_id", "description",
        "active", "created_at",
    ],
    "routing_sla_policies": [
        "id", "region_code", "category", "urgency", "first_reaction_hours", "interim_days", "final_days",
        "description", "created_at",
    ],
}  # fmt: skip


def upgrade() -> None:
    op.create_table(
        VERSION_TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,  # a development database completed by create_all has it already
    )
    op.execute(FIRST_ROW)
    dialect = op.get_bind().dialect.name
    for table, columns in WATCHED.items():
        for statement in trigger_statements(dialect, table, columns):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in WATCHED:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
        else:
            for name in ("inserted", "deleted", "updated"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS routing_directory_changed()")
    op.drop_table(VERSION_TABLE)
