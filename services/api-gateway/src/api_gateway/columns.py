"""What every table of the gateway builds on: UTC timestamps, JSON columns, word-search indexes.

The tables themselves live with their aggregates (incidents/models.py, auth/models.py …); models.py
lists them all for the migrations. Text columns have no length limit where events fill them: a
value the producer accepted must never make an event undeliverable here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Table, TypeDecorator, text
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as a naive timestamp and returns aware UTC datetimes, the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
