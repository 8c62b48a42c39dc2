"""NATS JetStream: connection, stream declarations, the outbox relay and inbox-backed consumers.

Delivery guarantees: JetStream is at-least-once. Publishing carries `Nats-Msg-Id` (the CloudEvent
id), so a relay that re-publishes after a crash is de-duplicated by the server within the stream's
duplicate window; consuming records every processed id in the inbox table with the effect, so a
redelivery changes nothing. A message that can never be processed is moved to
`incidents.deadletter.<consumer>` with its reason and acknowledged, so it never blocks the consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlmodel import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, InboxMessage, OutboxMessage, add_rows_in_bulk, already_processed, utcnow
from incidents_common.events import (
    BadEvent,
    CloudEvent,
    dead_letter_subject,
    decode_event,
)
from incidents_common.streams import ensure_streams
from incidents_common.tracing import continue_trace

log = logging.getLogger("incidents.nats")

DEAD_LETTER_REASON_HEADER = "Incidents-Dead-Letter-Reason"
ORIGINAL_SUBJECT_HEADER = "Incidents-Original-Subject"


def inbox_prefix_of(user: str) -> str:
    """The inbox prefix of a NATS user: replies to its requests (JetStream API, pulls, publish acks)
    travel on `_INBOX_<user>.>`, the only inbox its permissions let it subscribe to."""
    return f"_INBOX_{user}"


async def connect(
    url: str, name: str, *, attempts: int = 60, user: str | None = None, password: str | None = None
) -> NatsClient:
    """Connect, retrying the first connection (nats-py only reconnects after a first success).

    With a `user`, log in with it and `password` and use the user's own inbox prefix
    (`_INBOX_<user>`); without one, connect anonymously (an open server, as in most tests).
    """
    credentials: dict[str, Any] = {}
    if user:
        credentials = {"user": user, "password": password or "", "inbox_prefix": inbox_prefix_of(user)}
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            return await nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                **credentials,
            )
        except Exception as exc:  # noqa: BLE001 - every connect failure is retried the same way
            last_error = exc
            log.warning("nats connect failed, retrying", extra={"attempt": attempt + 1, "error": str(exc)})
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
    raise ConnectionError(f"cannot reach NATS at {url}: {last_error}")


# ---------------------------------------------------------------------------------------------
# Outbox relay
# ---------------------------------------------------------------------------------------------


class OutboxRelay:
    """Publishes outbox rows in order, asynchronously in batches, and deletes what JetStream acked."""

    def __init__(self, db: Database, *, batch: int = 500, poll_interval: float = 1.0) -> None:
        self.db = db
        self.batch = batch
        self.poll_interval = poll_interval
        self.js: JetStreamContext | None = None
        self._wake = asyncio.Event()
        self.published = 0
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """One pass: publish up to `batch` rows; returns how many were acknowledged."""
        if self.js is None:
            return 0
        js = self.js
        async with self.db.transaction() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id).limit(self.batch)  # type: ignore[arg-type]
            if not self.db.is_sqlite:
                # Several replicas may relay from one PostgreSQL outbox; each takes its own rows.
                query = query.with_for_update(skip_locked=True)
            rows = (await session.exec(query)).all()
            if not rows:
                return 0
            futures = [
                await js.publish_async(row.subject, row.payload, headers={"Nats-Msg-Id": row.event_id}) for row in rows
            ]
            results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=15)
            done = [row.id for row, result in zip(rows, results, strict=True) if not isinstance(result, BaseException)]
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                log.warning("outbox publish failures", extra={"failed": len(failures), "error": str(failures[0])})
            if done:
                await session.exec(delete(OutboxMessage).where(OutboxMessage.id.in_(done)))  # type: ignore[union-attr,call-overload]
        self.published += len(done)
        return len(done)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                published = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive broker and DB hiccups
                log.warning("outbox relay pass failed", extra={"error": repr(exc)})
                published = 0
                await asyncio.sleep(self.poll_interval)
            if published >= self.batch:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass


# ---------------------------------------------------------------------------------------------
# Consumers
# ---------------------------------------------------------------------------------------------

Handler = Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]
BatchHook = Callable[[list[CloudEvent[Any]]], Awaitable[None]]


@dataclass
class ConsumerSpec:
    """A durable pull consumer. `durable` names it (no dots: NATS forbids them)."""

    durable: str
    stream: str
    filter_subject: str
    handler: Handler
    batch: int = 200
    max_deliver: int = 5
    backoff: list[float] = field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])
    ack_wait: float = 60.0
    fetch_timeout: float = 1.0
    # Called with each fetched batch's events before its transaction: work that is cheaper for a
    # whole batch at once (the classifier scores all texts in one matrix product) is done here and
    # picked up by the handler; the handler must still work alone (a failed batch is retried one by one).
    before_batch: BatchHook | None = None

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.filter_subject,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
            backoff=self.backoff[: max(self.max_deliver - 1, 0)] or None,
            max_ack_pending=max(self.batch * 10, 1000),
        )


@dataclass
class ConsumerStats:
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0


class Consumer:
    """Fetches in batches, applies the handler inside one transaction with the inbox, acks after commit."""

    def __init__(self, spec: ConsumerSpec, db: Database) -> None:
        self.spec = spec
        self.db = db
        self.stats = ConsumerStats()

    async def run(self, js: JetStreamContext) -> None:
        spec = self.spec
        while True:
            try:
                subscription = await js.pull_subscribe(
                    spec.filter_subject, durable=spec.durable, stream=spec.stream, config=spec.config()
                )
                while True:
                    try:
                        messages = await subscription.fetch(spec.batch, timeout=spec.fetch_timeout)
                    except TimeoutError:
                        continue  # an empty stream: normal for a pull consumer
                    await self.process(js, messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - re-arm the pull consumer after broker trouble
                log.warning("consumer loop error, re-subscribing", extra={"consumer": spec.durable, "error": repr(exc)})
                await asyncio.sleep(1.0)

    async def process(self, js: JetStreamContext, messages: list[Msg]) -> None:
        decoded: list[tuple[Msg, CloudEvent[Any]]] = []
        for msg in messages:
            try:
                decoded.append((msg, decode_event(msg.data)))
            except BadEvent as exc:
                await self.dead_letter(js, msg, str(exc))
        if not decoded:
            return
        try:
            await self._apply_batch(decoded)
        except Exception as exc:  # noqa: BLE001 - fall back to one transaction per message
            log.info("batch failed, retrying one by one", extra={"consumer": self.spec.durable, "error": repr(exc)})
            for msg, cloud_event in decoded:
                await self._apply_one(js, msg, cloud_event)
            return
        for msg, _ in decoded:
            await msg.ack()

    async def _apply_batch(self, decoded: list[tuple[Msg, CloudEvent[Any]]]) -> None:
        if self.spec.before_batch is not None:
            await self.spec.before_batch([cloud_event for _, cloud_event in decoded])
        async with self.db.transaction() as session:
            seen = await already_processed(session, self.spec.durable, [e.id for _, e in decoded])
            applied = 0
            for _, cloud_event in decoded:
                if cloud_event.id in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(cloud_event.id)
                await self._handle(session, cloud_event)
                applied += 1
        self.stats.processed += applied

    async def _apply_one(self, js: JetStreamContext, msg: Msg, cloud_event: CloudEvent[Any]) -> None:
        try:
            async with self.db.transaction() as session:
                if await already_processed(session, self.spec.durable, [cloud_event.id]):
                    self.stats.duplicates += 1
                else:
                    await self._handle(session, cloud_event)
        except BadEvent as exc:
            await self.dead_letter(js, msg, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - retried with back-off, then dead-lettered
            delivered = msg.metadata.num_delivered or 1
            if delivered >= self.spec.max_deliver:
                await self.dead_letter(js, msg, f"failed {delivered} times: {exc!r}")
            else:
                self.stats.retried += 1
                delay = self.spec.backoff[min(delivered - 1, len(self.spec.backoff) - 1)]
                log.warning(
                    "handler failed, will retry",
                    extra={"consumer": self.spec.durable, "event_id": cloud_event.id, "error": repr(exc)},
                )
                await msg.nak(delay=delay)
            return
        self.stats.processed += 1
        await msg.ack()

    async def _handle(self, session: AsyncSession, cloud_event: CloudEvent[Any]) -> None:
        with continue_trace(f"{self.spec.durable} {cloud_event.type}", cloud_event.traceparent):
            await self.spec.handler(session, cloud_event)
        add_rows_in_bulk(
            session,
            InboxMessage.__table__,  # type: ignore[attr-defined]
            [{"consumer": self.spec.durable, "event_id": cloud_event.id, "processed_at": utcnow()}],
        )

    async def dead_letter(self, js: JetStreamContext, msg: Msg, reason: str) -> None:
        headers = {
            DEAD_LETTER_REASON_HEADER: reason[:1000],
            ORIGINAL_SUBJECT_HEADER: msg.subject,
        }
        try:
            headers["Nats-Msg-Id"] = f"dl-{self.spec.durable}-{msg.metadata.sequence.stream}"
        except Exception:  # noqa: BLE001,S110 - a message without JetStream metadata: no dedup id
            pass
        try:
            await js.publish(dead_letter_subject(self.spec.durable), msg.data, headers=headers)
        except Exception as exc:  # noqa: BLE001 - never lose it: leave it for redelivery
            log.error("dead-letter publish failed", extra={"consumer": self.spec.durable, "error": repr(exc)})
            await msg.nak(delay=5)
            return
        self.stats.dead_lettered += 1
        log.warning("event dead-lettered", extra={"consumer": self.spec.durable, "reason": reason[:300]})
        await msg.ack()


# ---------------------------------------------------------------------------------------------
# The per-service runtime: connection, streams, relay and consumers, started from the lifespan
# ---------------------------------------------------------------------------------------------


class EventRuntime:
    """Owns a service's NATS connection, its outbox relay and its consumers."""

    def __init__(
        self,
        *,
        db: Database,
        nats_url: str,
        client_name: str,
        consumers: Sequence[ConsumerSpec] = (),
        outbox_batch: int = 500,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.db = db
        self.nats_url = nats_url
        self.client_name = client_name
        self.user = user
        self._password = password
        self.relay = OutboxRelay(db, batch=outbox_batch)
        self.consumers = [Consumer(spec, db) for spec in consumers]
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._connect_and_run(), name=f"{self.client_name}-events"))

    async def _connect_and_run(self) -> None:
        self.nc = await connect(
            self.nats_url, self.client_name, attempts=10_000, user=self.user, password=self._password
        )
        self.js = self.nc.jetstream(publish_async_max_pending=10_000)
        await ensure_streams(self.js)
        self.relay.js = self.js
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.client_name}-outbox"))
        for consumer in self.consumers:
            self._tasks.append(asyncio.create_task(consumer.run(self.js), name=consumer.spec.durable))
        self.ready.set()
        log.info("event runtime ready", extra={"consumers": [c.spec.durable for c in self.consumers]})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.relay.publish_pending()  # flush what the last requests queued
            except Exception:  # noqa: BLE001,S110 - whatever is left goes out at the next start
                pass
            # close() rather than drain(): the consumers are already cancelled, and drain waits
            # (up to 30 s) on pull subscriptions whose fetch was cut short.
            try:
                await self.nc.flush(timeout=2)
            finally:
                await self.nc.close()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected
