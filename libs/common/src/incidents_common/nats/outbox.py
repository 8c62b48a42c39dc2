"""The outbox relay: publishes the rows transactions queued, in order, and deletes what JetStream acked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from sqlalchemy import delete, select
from sqlalchemy.schema import Table

from incidents_common.db import Database, OutboxMessage
from incidents_common.jetstream import PublishAcks
from incidents_common.nats.connection import short_error
from incidents_common.nats.failures import is_infrastructure_failure

OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__

log = logging.getLogger("incidents.nats")

# Rows a pass publishes, unless the service's settings say otherwise (ServiceSettings.outbox_batch).
RELAY_BATCH = 1000


class OutboxRelay:
    """Publishes outbox rows in order, asynchronously in batches, and deletes what JetStream acked.

    A pass waits at most `ack_timeout` for the acknowledgements; a reconnection ends the wait at
    once (the acknowledgements of the old connection are lost) and the rows not acknowledged are
    published again in the next pass, which starts right away (the duplicate window drops those
    that had arrived).
    """

    def __init__(
        self, db: Database, *, batch: int = RELAY_BATCH, poll_interval: float = 1.0, ack_timeout: float = 15.0
    ) -> None:
        self.db = db
        self.batch = batch
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.js: JetStreamContext | None = None
        self.nc: NatsClient | None = None
        self._wake = asyncio.Event()
        self._reconnected = asyncio.Event()
        self._stopping = False
        self.published = 0
        self.interrupted = 0  # passes cut short by a reconnection
        self._acks: PublishAcks | None = None
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    @property
    def awaiting_acks(self) -> int:
        """Rows published in the pass under way whose acknowledgement has not come."""
        return self._acks.pending if self._acks is not None else 0

    def reconnected(self) -> None:
        """The client reconnected: abandon the acknowledgements awaited on the old connection."""
        self._reconnected.set()
        self._wake.set()

    def stop(self) -> None:
        """Finish the pass under way, start no other (`EventRuntime.stop` flushes afterwards)."""
        self._stopping = True
        self._wake.set()

    def restart(self) -> None:
        self._stopping = False

    async def publish_pending(self) -> int:
        """One pass: publish up to `batch` rows; returns how many were acknowledged."""
        if self.js is None or self.nc is None or not self.nc.is_connected:
            return 0
        if self._acks is None or self._acks.nc is not self.nc:
            self._acks = await PublishAcks(self.nc).start()
        acks = self._acks
        self._reconnected.clear()
        async with self.db.transaction() as session:
            # Plain rows, not ORM objects: building an object per row was most of a pass's CPU.
            query = select(OUTBOX.c.id, OUTBOX.c.subject, OUTBOX.c.payload, OUTBOX.c.event_id)
            query = query.order_by(OUTBOX.c.id).limit(self.batch)
            if not self.db.is_sqlite:
                # Several replicas may relay from one PostgreSQL outbox; each takes its own rows.
                query = query.with_for_update(skip_locked=True)
            rows = (await (await session.connection()).execute(query)).all()
            if not rows:
                return 0
            futures = [await acks.publish(row.subject, row.payload, row.event_id) for row in rows]
            gathered: asyncio.Future[Any] = asyncio.gather(*futures, return_exceptions=True)
            reconnected: asyncio.Future[Any] = asyncio.ensure_future(self._reconnected.wait())
            try:
                await asyncio.wait({gathered, reconnected}, timeout=self.ack_timeout, return_when="FIRST_COMPLETED")
            finally:
                reconnected.cancel()
                if not gathered.done():
                    gathered.cancel()  # cancels the futures still waiting
                    await asyncio.wait({gathered})
                acks.forget()
            done = [row.id for row, future in zip(rows, futures, strict=True) if _acknowledged(future)]
            if len(done) < len(rows):
                failures = [e for f in futures if f.done() and not f.cancelled() and (e := f.exception()) is not None]
                if self._reconnected.is_set():
                    self.interrupted += 1
                    log.info(
                        "outbox pass cut short by a reconnection; publishing the rest again",
                        extra={"acknowledged": len(done), "again": len(rows) - len(done)},
                    )
                elif failures:
                    log.warning(
                        "outbox publish failures", extra={"failed": len(failures), "error": short_error(failures[0])}
                    )
                else:
                    log.warning(
                        "outbox acknowledgements timed out",
                        extra={"unacknowledged": len(rows) - len(done), "timeout": self.ack_timeout},
                    )
            if done:
                await (await session.connection()).execute(delete(OUTBOX).where(OUTBOX.c.id.in_(done)))
        self.published += len(done)
        return len(done)

    async def run(self) -> None:
        failing = False
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive broker and DB hiccups
                # An outage: one WARNING when it starts, then quieter until a pass succeeds again.
                quiet = failing and is_infrastructure_failure(exc)
                log.log(
                    logging.INFO if quiet else logging.WARNING,
                    "outbox relay pass failed",
                    extra={"error": short_error(exc)},
                )
                failing = True
                published = 0
                await asyncio.sleep(self.poll_interval)
            else:
                failing = False
            if published >= self.batch or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)


def _acknowledged(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
