"""gw_incident: indexes for the incident list's sort orders.

The list is filtered by the caller's regions and sorted by created_at, updated_at, severity,
total_reach or complainants, with incident_id breaking ties. Without an index in that order the
database sorts every incident of the region (or of the country, for a federal caller) to return one
page: 40-45 ms at 100,000 incidents on PostgreSQL (bench/read_api.py). Status and category, the most
common filters, get (region, status|category, created_at) indexes, so such a page is read in the
default order (SQLite sorted every incident of that status first: 8-11 ms); they replace the
(region, status) and (category) indexes. ix_gw_incident_region_code goes: ix_gw_incident_region_created
starts with the same column and serves the same lookups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:14:05.448060
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_COLUMNS = {"updated": "updated_at", "severity": "severity", "reach": "total_reach", "complainants": "complainants"}


def upgrade() -> None:
    op.drop_index("ix_gw_incident_region_code", table_name="gw_incident")
    op.drop_index("ix_gw_incident_region_status", table_name="gw_incident")
    op.create_index("ix_gw_incident_region_status_created", "gw_incident", ["region_code", "status", "created_at"])
    op.drop_index("ix_gw_incident_category", table_name="gw_incident")
    op.create_index("ix_gw_incident_region_category_created", "gw_incident", ["region_code", "category", "created_at"])
    for name, column in SORT_COLUMNS.items():
        op.create_index(f"ix_gw_incident_region_{name}", "gw_incident", ["region_code", column, "incident_id"])
        op.create_index(f"ix_gw_incident_{name}", "gw_incident", [column, "incident_id"])


def downgrade() -> None:
    for name in SORT_COLUMNS:
        op.drop_index(f"ix_gw_incident_{name}", table_name="gw_incident")
        op.drop_index(f"ix_gw_incident_region_{name}", table_name="gw_incident")
    op.drop_index("ix_gw_incident_region_category_created", table_name="gw_incident")
    op.create_index("ix_gw_incident_category", "gw_incident", ["category"])
    op.drop_index("ix_gw_incident_region_status_created", table_name="gw_incident")
    op.create_index("ix_gw_incident_region_status", "gw_incident", ["region_code", "status"])
    op.create_index("ix_gw_incident_region_code", "gw_incident", ["region_code"])
