"""`Ingestor`: the one owner of ingest transactions, because it must serialise SQLite writers and retry
unique-key races with the commit inside the retry loop; and the outbox back-pressure that guards it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.ingest.prepare import PreparedPost, prepare_posts
from collector.ingest.schemas import IngestResult, PostCreate
from collector.ingest.service import store_prepared
from collector.models import Source
from collector.sources.service import save_cursors
from incidents_common.db import Database, OutboxMessage
from incidents_common.problems import ServiceUnavailable


class Backpressure(ServiceUnavailable):
    slug, title = "backpressure", "Collector is catching up"


class Ingestor:
    """Runs ingest transactions: SQLite writers serialised in-process, unique-key races retried."""

    def __init__(
        self,
        db: Database,
        *,
        max_backlog: int | None = None,
        on_store: Callable[[AsyncSession, Sequence[Mapping[str, Any]]], Awaitable[object]] | None = None,
    ) -> None:
        self.db = db
        self.max_backlog = max_backlog
        # Runs in each ingest transaction with the posts rows stored (collector.reactions' Telegram hook).
        self.on_store = on_store
        self._lock = asyncio.Lock() if db.is_sqlite else None
        self._backlog_checked = 0.0
        self._backlog = 0
        self.retries = 0  # transactions retried after a race with another writer

    async def backlog(self, *, max_age: float = 1.0) -> int:
        """Unpublished outbox rows (cached for `max_age` seconds)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._backlog_checked > max_age:
            async with self.db.sessions() as session:
                self._backlog = int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())
            self._backlog_checked = loop.time()
        return self._backlog

    async def check_backpressure(self) -> None:
        if self.max_backlog is not None and await self.backlog() > self.max_backlog:
            raise Backpressure(
                f"more than {self.max_backlog} events wait for NATS; retry later",
                headers={"Retry-After": "5"},
                retry_after=5,
            )

    async def ingest(
        self,
        posts: Sequence[PostCreate],
        *,
        source_id: str | None = None,
        cursors: Mapping[str, dict[str, Any]] | None = None,
        keep_items: bool = True,
    ) -> IngestResult:
        """Ingest posts (and save the source's cursors) in one transaction."""
        # Normalising is CPU work: done before taking the SQLite writer lock, so that it overlaps
        # another request's database work (which runs in the driver's thread).
        prepared = prepare_posts(posts, source_id=source_id)
        for attempt in range(4):
            try:
                if self._lock is None:
                    return await self._once(prepared, source_id, cursors, keep_items)
                async with self._lock:
                    return await self._once(prepared, source_id, cursors, keep_items)
            except IntegrityError:
                # Another writer inserted one of these posts first: re-read and classify again.
                if attempt == 3:
                    raise
                self.retries += 1
            except OperationalError as exc:
                # SQLite: another process (the import CLI) holds the write lock past busy_timeout.
                if "locked" not in str(exc) or attempt == 3:
                    raise
                self.retries += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _once(
        self,
        prepared: Sequence[PreparedPost],
        source_id: str | None,
        cursors: Mapping[str, dict[str, Any]] | None,
        keep_items: bool,
    ) -> IngestResult:
        async with self.db.transaction() as session:
            result = await store_prepared(session, prepared=prepared, keep_items=keep_items)
            if self.on_store is not None:
                await self.on_store(session, [item.row for item in prepared])
            if source_id is not None and cursors:
                await save_cursors(session, source_id=source_id, cursors=cursors)
            if source_id is not None and (result.accepted or result.updated):
                await session.exec(
                    update(Source)
                    .where(col(Source.id) == source_id)
                    .values(posts_collected=Source.posts_collected + result.accepted + result.updated)
                )
        self._backlog += result.accepted + result.updated
        return result
