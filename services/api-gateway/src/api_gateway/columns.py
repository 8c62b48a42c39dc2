"""What every table of the gateway builds on: UTC timestamps, JSON columns, word-search indexes.

The tables themselves live with their aggregates (incidents/models.py, auth/models.py …); models.py
lists them all for the migrations. Text columns have no length limit where events fill them: a
value the producer accepted must never make an event undeliverable here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Table, text
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime

# PostgreSQL searches words with a GIN index over this expression (incidents.queries.word_clause); the
# query must spell it exactly so, with a constant configuration, for the planner to use the index.
# `simple` only lower-cases: the stored text is already normalised and lemmatised by incidents.search.
SEARCH_VECTOR = "to_tsvector('simple'::regconfig, search_text)"


def search_index(name: str) -> Index:
    """A GIN index of the words in `search_text`, on PostgreSQL only (SQLite searches with LIKE)."""
    return Index(name, text(SEARCH_VECTOR), postgresql_using="gin").ddl_if(dialect="postgresql")


def ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def js() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for the bulk statements of the batch consumers."""
    return SQLModel.metadata.tables[str(model.__tablename__)]
