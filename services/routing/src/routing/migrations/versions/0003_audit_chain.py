"""A tamper-evident audit log (incidents.chain): each history entry carries the hash of the one before
and its own; each incident its chain's head; routing_audit_roots each region's daily root.

Entries written before this revision are chained here, in their order, so that every incident's chain
holds from its first entry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from routing.incidents.chain import chain

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("routing_incident_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_routing_incident_history_at", ["at"], unique=False)
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_head", sa.String(length=64), nullable=True))
    op.create_table(
        "routing_audit_roots",
        sa.Column("region_code", sa.String(length=2), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "day"),
    )
    _chain_existing_entries()


def _chain_existing_entries() -> None:
    bind = op.get_bind()
    history = sa.table(
        "routing_incident_history",
        *(sa.column(name) for name in ("id", "incident_id", "seq", "actor", "action")),
        sa.column("at", sa.DateTime()),
        *(sa.column(name) for name in ("from_status", "to_status", "comment", "prev_hash", "hash")),
    )
    incidents = sa.table("routing_incidents", sa.column("id"), sa.column("chain_head"))
    rows = bind.execute(sa.select(history).order_by(history.c.incident_id, history.c.seq)).mappings().all()
    heads: dict[str, str] = {}
    for row in rows:
        entry = dict(row)
        heads[entry["incident_id"]] = chain(heads.get(entry["incident_id"]), entry)
        bind.execute(
            history.update().where(history.c.id == entry["id"]).values(prev_hash=entry["prev_hash"], hash=entry["hash"])
        )
    for incident_id, head in heads.items():
        bind.execute(incidents.update().where(incidents.c.id == incident_id).values(chain_head=head))


def downgrade() -> None:
    op.drop_table("routing_audit_roots")
    with op.batch_alter_table("routing_incidents", schema=None) as batch_op:
        batch_op.drop_column("chain_head")
    with op.batch_alter_table("routing_incident_history", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_incident_history_at")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
