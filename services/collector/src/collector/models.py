"""The collector's tables: sources, posts (versioned), per-source cursors, replies to publish and the
reactions collected under them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Column, Index, Table, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow


class JSON(TypeDecorator[Any]):
    """JSON in a text column, (de)serialised with orjson: the stdlib encoder was a tenth of the
    import time. Text rather than JSONB keeps one schema for SQLite and PostgreSQL; the collector
    never queries inside these documents."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Source(SQLModel, table=True):
    """A configured source (VK, Telegram bot, RSS feed). Settings hold secrets: never echoed."""

    __tablename__ = "sources"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    type: str = Field(max_length=20, index=True)
    enabled: bool = True
    interval_seconds: float = 300.0
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="ok", max_length=20)
    # halted: polling stopped until an operator changes the source (VK error 5, bad token …).
    halted: bool = False
    last_run: datetime | None = _ts(nullable=True)
    last_success: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    posts_collected: int = 0
    consecutive_failures: int = 0
    next_run: datetime | None = _ts(nullable=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Post(SQLModel, table=True):
    """One collected post, normalised. (source_type, external_id) identifies it across sources:
    VK posts are keyed "<owner_id>_<post_id>", so a search hit and a wall read are the same row."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("source_type", "external_id", name="uq_posts_source_type_external_id"),
        Index("ix_posts_source_id_collected", "source_id", "collected_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    source_type: str = Field(max_length=20)
    external_id: str = Field(max_length=255)
    source_id: str | None = Field(default=None, max_length=36)
    version: int = 1
    content_hash: str = Field(max_length=40)
    url: str | None = Field(default=None, max_length=2000)
    author_id: str | None = Field(default=None, max_length=255)
    author_name: str | None = Field(default=None, max_length=500)
    author_url: str | None = Field(default=None, max_length=2000)
    author_followers: int | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    collected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    language: str | None = Field(default=None, max_length=10)
    place_hints: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    parent_external_id: str | None = Field(default=None, max_length=255)
    repost_chain: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reach: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Cursor(SQLModel, table=True):
    """Where a source stopped, per stream inside it (a VK query, a wall, Telegram's update offset)."""

    __tablename__ = "cursors"

    source_id: str = Field(primary_key=True, max_length=36)
    key: str = Field(primary_key=True, max_length=300)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Publication(SQLModel, table=True):
    """An official's reply to publish where the complaint was (ReplyRequested), and what came of it.

    status: pending (due at next_attempt_at) → sending (the call is under way: marked and committed
    before it) → published | failed | unconfirmed | recorded_only. A row left in `sending` means the
    collector stopped between the call and its record (collector.publishing decides what then)."""

    __tablename__ = "publications"
    __table_args__ = (Index("ix_publications_status_next_attempt", "status", "next_attempt_at"),)

    reply_id: str = Field(primary_key=True, max_length=100)
    incident_id: str = Field(max_length=100)
    region_code: str = Field(max_length=10)
    kind: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    post_id: str = Field(max_length=36)
    source_type: str = Field(max_length=20)
    external_id: str = Field(max_length=255)
    channel: str | None = Field(default=None, max_length=20)  # vk, telegram or none, once decided
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    url: str | None = Field(default=None, max_length=2000)
    published_id: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_code: str | None = Field(default=None, max_length=50)
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # When the reply went out (status published): the citizens' reactions are watched from then on
    # (collector.reactions), until the watch period ends or `watch_ended` says why it stopped earlier.
    published_at: datetime | None = _ts(nullable=True)
    watch_ended: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Reaction(SQLModel, table=True):
    """A comment or message written under a published reply, once published as ReactionCollected: the
    key that keeps each from going out twice (reaction_id "<source_type>:<external_id>")."""

    __tablename__ = "reactions"

    reaction_id: str = Field(primary_key=True, max_length=300)
    reply_id: str = Field(max_length=100, index=True)
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    collected_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


TABLES = [Source, Post, Cursor, Publication, Reaction]


def table_of(model: type[SQLModel]) -> Table:
    """The model's Core table, for bulk statements that bypass the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ on table classes without declaring it
    return table


POSTS = table_of(Post)
PUBLICATIONS = table_of(Publication)
