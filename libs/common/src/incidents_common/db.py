"""Database helpers: one async engine per service, the request/consumer transaction, outbox and inbox.

The outbox and inbox tables are what make an at-least-once broker effectively exactly-once:
a change and the events it causes are written in one transaction (outbox), and a consumer records
each processed event id in the same transaction as its effect (inbox), so a redelivery is a no-op.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, LargeBinary, event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.schema import Table
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import CloudEvent, Contract, encode_event, new_event, subject_of


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxMessage(SQLModel, table=True):
    """An event written with the change that caused it; the relay publishes and then deletes it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True, max_length=64)
    subject: str = Field(max_length=255)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class InboxMessage(SQLModel, table=True):
    """The id of an event a consumer has processed, stored with the effect of processing it."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(default_factory=utcnow)


COMMON_TABLES: tuple[Any, ...] = (OutboxMessage, InboxMessage)


def migrations_dir(package: str) -> Path | None:
    """`<package>/migrations`, the service's Alembic environment, if the package has one."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    for location in getattr(module, "__path__", ()):
        path = Path(location) / "migrations"
        if (path / "env.py").is_file():
            return path
    return None


def _migrations_package(tables: Iterable[Any]) -> str | None:
    """The service whose tables these are: the top-level package of the first table with migrations."""
    for table in tables:
        if table not in COMMON_TABLES:
            package = str(table.__module__).split(".")[0]
            if migrations_dir(package) is not None:
                return package
    return None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the HTTP handlers read while the relay and consumers write; busy_timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """A service's own database: engine, sessions and the tables it owns.

    `migrations` names the package whose `migrations/` folder holds the schema's Alembic revisions
    (incidents_common.migrations); by default the package of the first service table, if it has one.
    """

    def __init__(self, url: str, tables: Iterable[Any], *, echo: bool = False, migrations: str | None = None) -> None:
        tables = list(tables)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.tables: list[Table] = [
            t.__table__
            for t in (*COMMON_TABLES, *tables)  # type: ignore[attr-defined]
        ]
        self.migrations: str | None = migrations or _migrations_package(tables)
        self._commit_hooks: list[Callable[[], None]] = []

    def on_outbox_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every commit that wrote to the outbox (the relay's wake-up)."""
        self._commit_hooks.append(hook)

    async def migrate(self) -> None:
        """The start-up path: upgrade the schema to the newest revision (incidents_common.migrations)."""
        from incidents_common.migrations import upgrade

        await upgrade(self)

    async def create_tables(self) -> None:
        """Create missing tables from the models (tests and tools; services start with migrate()).

        A database this creates from nothing is stamped at the newest revision, so a service started
        on it later does not take it for an earlier release's database.
        """
        from incidents_common.migrations import create_all

        async with self.engine.begin() as conn:
            await conn.run_sync(create_all, self)

    def metadata_create_all(self, connection: Connection) -> None:
        SQLModel.metadata.create_all(connection, tables=self.tables)

    async def drop_tables(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: SQLModel.metadata.drop_all(sync, tables=self.tables))
            if self.migrations is not None:
                await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
                await flush_pending_rows(session)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if session.info.pop("outbox_pending", False):
            for hook in self._commit_hooks:
                hook()


_PENDING_ROWS = "pending_rows"


def add_rows_in_bulk(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` into `table` with one executemany just before the commit.

    The ORM inserts rows with database-generated keys one statement at a time through aiosqlite
    (a thread hop each); the outbox and inbox are on every hot path, so they are written in bulk.
    """
    pending: dict[Any, list[dict[str, Any]]] = session.info.setdefault(_PENDING_ROWS, {})
    pending.setdefault(table, []).extend(rows)


async def flush_pending_rows(session: AsyncSession) -> None:
    pending: dict[Any, list[dict[str, Any]]] = session.info.pop(_PENDING_ROWS, {})
    for table, rows in pending.items():
        if rows:
            await session.exec(insert(table), params=rows)  # type: ignore[call-overload]


def enqueue(session: AsyncSession, event: CloudEvent[Any]) -> None:
    """Queue an event in the outbox of the session's transaction; it goes out after the commit."""
    row = {
        "event_id": event.id,
        "subject": subject_of(event.data),
        "payload": encode_event(event),
        "created_at": utcnow(),
    }
    add_rows_in_bulk(session, OutboxMessage.__table__, [row])  # type: ignore[attr-defined]
    session.info["outbox_pending"] = True


def publish(
    session: AsyncSession,
    data: Contract,
    *,
    source: str,
    origin_post_id: str | None = None,
    subject: str | None = None,
) -> CloudEvent[Any]:
    """Wrap `data` in a CloudEvent and queue it in the outbox; returns the event."""
    cloud_event = new_event(data, source=source, origin_post_id=origin_post_id, subject=subject)
    enqueue(session, cloud_event)
    return cloud_event


async def already_processed(session: AsyncSession, consumer: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    rows = await session.exec(
        select(InboxMessage.event_id).where(
            InboxMessage.consumer == consumer,
            InboxMessage.event_id.in_(list(event_ids)),  # type: ignore[attr-defined]
        )
    )
    return set(rows.all())
