"""PostgreSQL: GIN indexes of the words of incidents and posts (search).

A search word matches when one of its forms begins a word of the incident's or one of its posts'
`search_text`. As `LIKE '% form%'` that is a scan of every incident and every post: 100-200 ms at
100,000 incidents (bench/read_api.py). `to_tsvector('simple', search_text) @@ 'form:*'` means the
same (the text holds only [0-9a-zа-я] words, which PostgreSQL's parser keeps as they are) and is
answered from these indexes. PostgreSQL only, like the models' `search_index()`: SQLite keeps LIKE
(and autogenerate, which runs on SQLite, cannot see expression indexes: written by hand).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 19:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_gw_incident_search": "gw_incident", "ix_gw_post_search": "gw_post"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (to_tsvector('simple'::regconfig, search_text))")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table in INDEXES.items():
        op.drop_index(name, table_name=table)
