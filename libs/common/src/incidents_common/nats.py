"""NATS JetStream: connection, the outbox relay and inbox-backed consumers, pauses and dead letters.

Delivery guarantees: JetStream is at-least-once. Publishing carries `Nats-Msg-Id` (the CloudEvent
id), so a relay that re-publishes after a crash is de-duplicated by the server within the stream's
duplicate window; consuming records every processed id in the inbox table with the effect, so a
redelivery changes nothing.

Failures (see `is_infrastructure_failure` and `Consumer`):

- **the database or NATS is unavailable** (a connection refused or lost, a pool timeout, SQLite's
  "database is locked" …, confirmed by a probe: `SELECT 1` and the NATS connection) — the consumer
  *pauses*: it keeps the messages in hand (telling JetStream they are in progress, so they are not
  redelivered and their delivery count does not grow), probes with back-off up to a ceiling, and
  retries the same messages when the dependency answers, however long that takes;
- **a message fails on its own** (the handler raises while the database answers, or runs longer
  than `handler_timeout`) — it is retried alone with back-off and after `max_deliver` attempts moved
  to `incidents.deadletter.<consumer>` with the reason, and acknowledged;
- **a message that can never be processed** (malformed, `BadEvent`) is dead-lettered at once;
- **a message delivered more than `max_deliver` times without a verdict** (the process crashed or
  hung while handling it) is dead-lettered on receipt, before it is handled again. The server-side
  consumer has no delivery limit (`max_deliver` -1), so JetStream never drops a message silently:
  every message ends processed or in the dead-letter stream.

Shutdown (`EventRuntime.stop`) drains within a bounded time: consumers stop fetching and finish the
batch in hand, the outbox relay flushes, the connection drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import delete, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.schema import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, InboxMessage, OutboxMessage, Writes, already_processed, utcnow
from incidents_common.events import (
    BadEvent,
    CloudEvent,
    dead_letter_subject,
    decode_event,
)
from incidents_common.jetstream import PublishAcks, PullBatches
from incidents_common.streams import ensure_streams
from incidents_common.tracing import batch_spans

OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__

log = logging.getLogger("incidents.nats")

# Headers of a dead letter (the message itself is the original payload, byte for byte).
DEAD_LETTER_REASON_HEADER = "Incidents-Dead-Letter-Reason"
ORIGINAL_SUBJECT_HEADER = "Incidents-Original-Subject"
DEAD_LETTER_CONSUMER_HEADER = "Incidents-Dead-Letter-Consumer"
ORIGINAL_STREAM_HEADER = "Incidents-Original-Stream"
ORIGINAL_SEQUENCE_HEADER = "Incidents-Original-Sequence"
DELIVERIES_HEADER = "Incidents-Deliveries"
DEAD_LETTERED_AT_HEADER = "Incidents-Dead-Lettered-At"
EVENT_ID_HEADER = "Incidents-Event-Id"
EVENT_TYPE_HEADER = "Incidents-Event-Type"

DELIVERY_LIMIT_REASON = "delivery limit reached (the consumer crashed or hung while handling it)"


def inbox_prefix_of(user: str) -> str:
    """The inbox prefix of a NATS user: replies to its requests (JetStream API, pulls, publish acks)
    travel on `_INBOX_<user>.>`, the only inbox its permissions let it subscribe to."""
    return f"_INBOX_{user}"


# ---------------------------------------------------------------------------------------------
# Connection, and what it logs
# ---------------------------------------------------------------------------------------------

# What a client sees while a server restarts or the network drops: expected, logged without traceback.
_CONNECTION_NOISE: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError …
    nats.errors.StaleConnectionError,  # UnexpectedEOF too
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.TimeoutError,
)


class ConnectionLog:
    """nats-py's connection callbacks: a lost connection and its return are one WARNING line each,
    without traceback; the failed attempts in between are DEBUG (nats-py's default logs every one of
    them at ERROR with a traceback). Other asynchronous errors (a permissions violation, a slow
    consumer) are one ERROR line. `on_reconnect` hooks run after every reconnection."""

    REMIND_EVERY = 60.0  # seconds between "still unreachable" lines while NATS stays away

    def __init__(self, name: str) -> None:
        self.name = name
        self.closing = False
        self.client: NatsClient | None = None
        self.disconnected_at: float | None = None
        self.disconnects = 0
        self.on_reconnect: list[Callable[[], None]] = []
        self._unreachable_since: float | None = None
        self._reminded_at = 0.0
        self.last_error: Exception | None = None

    async def error(self, exc: Exception) -> None:
        if self.last_error is None or isinstance(self.last_error, _CONNECTION_NOISE):
            self.last_error = exc  # an authorization error outlives the reset that follows it
        if not isinstance(exc, _CONNECTION_NOISE):
            log.error("nats error", extra={"client": self.name, "error": _short(exc)})
            return
        now = time.monotonic()
        if self.client is None and self._unreachable_since is None:
            # The first connection fails: nats-py keeps trying; say it once, then remind now and then.
            self._unreachable_since = self._reminded_at = now
            log.warning("nats unreachable, retrying", extra={"client": self.name, "error": _short(exc)})
            return
        since = self._unreachable_since if self.client is None else self.disconnected_at
        if since is not None and now - self._reminded_at >= self.REMIND_EVERY:
            self._reminded_at = now
            log.warning(
                "nats still unreachable",
                extra={"client": self.name, "down_seconds": round(now - since), "error": _short(exc)},
            )
            return
        log.debug("nats connection error", extra={"client": self.name, "error": _short(exc)})

    async def disconnected(self) -> None:
        if self.closing or self.disconnected_at is not None or (self.client is not None and self.client.is_closed):
            return
        self.disconnected_at = self._reminded_at = time.monotonic()
        self.disconnects += 1
        log.warning("nats connection lost, reconnecting", extra={"client": self.name})

    async def reconnected(self) -> None:
        down = time.monotonic() - self.disconnected_at if self.disconnected_at is not None else 0.0
        self.disconnected_at = None
        log.warning("nats reconnected", extra={"client": self.name, "down_seconds": round(down, 2)})
        for hook in self.on_reconnect:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - a hook must not break the client's callback
                log.error("reconnect hook failed", extra={"client": self.name, "error": _short(exc)})

    async def closed(self) -> None:
        log.debug("nats connection closed", extra={"client": self.name})


def _short(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def connect(
    url: str,
    name: str,
    *,
    attempts: int = 60,
    user: str | None = None,
    password: str | None = None,
    connection_log: ConnectionLog | None = None,
    drain_timeout: float = 10.0,
    reconnect_attempts: int = -1,
) -> NatsClient:
    """Connect, retrying the first connection (nats-py only reconnects after a first success).

    With a `user`, log in with it and `password` and use the user's own inbox prefix
    (`_INBOX_<user>`); without one, connect anonymously (an open server, as in most tests).
    Disconnections, reconnections and errors are logged by `connection_log` (one line each).
    `reconnect_attempts` -1 (services): nats-py retries an unreachable server for ever, the first
    connection included; a positive number makes each of the `attempts` give up after that many tries
    (a command line that should fail fast).
    """
    credentials: dict[str, Any] = {}
    if user:
        credentials = {"user": user, "password": password or "", "inbox_prefix": inbox_prefix_of(user)}
    # A cluster is given as a comma-separated list; nats-py wants a list of servers.
    servers = [part.strip() for part in url.split(",") if part.strip()]
    callbacks = connection_log or ConnectionLog(name)
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            client = await nats.connect(
                servers,
                name=name,
                max_reconnect_attempts=reconnect_attempts,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=callbacks.error,
                disconnected_cb=callbacks.disconnected,
                reconnected_cb=callbacks.reconnected,
                closed_cb=callbacks.closed,
                drain_timeout=drain_timeout,  # a float works: it goes to wait_for
                **credentials,
            )
        except Exception as exc:  # noqa: BLE001 - every connect failure is retried the same way
            last_error = exc
            if attempt + 1 < attempts:
                log.warning("nats connect failed, retrying", extra={"attempt": attempt + 1, "error": _short(exc)})
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
        else:
            callbacks.client = client
            return client
    cause = callbacks.last_error or last_error
    raise ConnectionError(f"cannot reach NATS at {url}: {_short(cause) if cause else 'no answer'}")


# ---------------------------------------------------------------------------------------------
# Infrastructure failure or poison message?
# ---------------------------------------------------------------------------------------------

# SQLite says these when the file is busy or unusable; its other OperationalErrors ("no such table",
# a syntax error) are about the statement, not the database's availability.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def _asyncpg_unavailable() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency of incidents-common
        return ()
    return (
        pg.PostgresConnectionError,  # class 08: connection failure, does not exist, rejected
        pg.CannotConnectNowError,  # 57P03: starting up or shutting down
        pg.AdminShutdownError,  # 57P01: terminated by an administrator (pg_ctl stop, failover)
        pg.CrashShutdownError,  # 57P02
        pg.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
        pg.ReadOnlySQLTransactionError,  # 25006: a standby during a failover
        pg.InvalidAuthorizationSpecificationError,  # class 28: the server refuses our credentials
        pg.TransactionRollbackError,  # class 40: serialization failure, deadlock: retry as is
    )


_ASYNCPG_UNAVAILABLE = _asyncpg_unavailable()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything behind it: __cause__, __context__, a DBAPI error's `orig`, group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < 50:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        for nested in (current.__cause__, context, getattr(current, "orig", None)):
            if isinstance(nested, BaseException):
                stack.append(nested)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)


def _is_sqlite(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.Error) or "sqlite" in type(orig).__module__


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` says that a dependency (the database, NATS, the network) is unavailable, as
    opposed to a failure caused by the message being handled.

    True when `exc` or anything in its chain (`__cause__`, `__context__`, a SQLAlchemy error's
    `orig`, an exception group's members) is one of:

    - SQLAlchemy: `DBAPIError` whose connection was invalidated (a disconnect), `InterfaceError`,
      `OperationalError` (for SQLite only when it says the file is locked, busy, unreadable or full:
      SQLite also reports "no such table" and syntax errors as OperationalError), a pool timeout
      (`sqlalchemy.exc.TimeoutError`) or `DisconnectionError`;
    - asyncpg: connection errors (SQLSTATE class 08), the server shutting down or starting
      (57P01-57P03), insufficient resources (class 53: too many connections, disk full), a read-only
      transaction (25006: a standby during failover), refused credentials (class 28), serialization
      failures and deadlocks (class 40), and asyncpg's own "connection is closed" interface errors;
    - sqlite3: an `OperationalError` as above;
    - `OSError` (ConnectionError, TimeoutError, socket errors: a refused or reset connection);
    - nats-py: connection closed, no servers, stale connection, reconnecting/draining, outbound
      buffer full, a request timeout, no responders, JetStream unavailable (503).

    `BadEvent` is never an infrastructure failure. The consumer does not trust this function alone:
    before pausing it probes the database and NATS, and a failure that looks like infrastructure
    while both answer is retried a few times and then counted against the message.
    """
    if isinstance(exc, BadEvent):
        return False
    for cause in _causes(exc):
        if isinstance(cause, BadEvent):
            return False
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sa_exc.OperationalError | sqlite3.OperationalError):
            if not _is_sqlite(cause):
                return True
            message = str(getattr(cause, "orig", cause) or cause).lower()
            if any(phrase in message for phrase in _SQLITE_UNAVAILABLE):
                return True
            continue
        if isinstance(cause, sa_exc.InterfaceError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if _ASYNCPG_UNAVAILABLE and isinstance(cause, _ASYNCPG_UNAVAILABLE):
            return True
        if type(cause).__module__.startswith("asyncpg") and type(cause).__name__ == "InterfaceError":
            if "connection" in str(cause).lower() or "closed" in str(cause).lower():
                return True
        if isinstance(cause, OSError):
            return True
        if isinstance(
            cause,
            nats.errors.ConnectionClosedError
            | nats.errors.NoServersError
            | nats.errors.StaleConnectionError
            | nats.errors.ConnectionReconnectingError
            | nats.errors.ConnectionDrainingError
            | nats.errors.OutboundBufferLimitError
            | nats.errors.NoRespondersError
            | nats.js.errors.ServiceUnavailableError
            | nats.js.errors.NoStreamResponseError,
        ):
            return True
    return False


class HandlerTimeout(Exception):
    """The handler did not finish within the consumer's `handler_timeout`."""


# ---------------------------------------------------------------------------------------------
# Outbox relay
# ---------------------------------------------------------------------------------------------


class OutboxRelay:
    """Publishes outbox rows in order, asynchronously in batches, and deletes what JetStream acked.

    A pass waits at most `ack_timeout` for the acknowledgements; a reconnection ends the wait at
    once (the acknowledgements of the old connection are lost) and the rows not acknowledged are
    published again in the next pass, which starts right away (the duplicate window drops those
    that had arrived).
    """

    def __init__(
        self, db: Database, *, batch: int = 500, poll_interval: float = 1.0, ack_timeout: float = 15.0
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
                        "outbox publish failures", extra={"failed": len(failures), "error": _short(failures[0])}
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
                    logging.INFO if quiet else logging.WARNING, "outbox relay pass failed", extra={"error": _short(exc)}
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


# ---------------------------------------------------------------------------------------------
# Consumers
# ---------------------------------------------------------------------------------------------

# The batch contract: a consumer's handler gets the batch's events that this consumer has not
# processed yet (in delivery order) and the typed context of the batch's transaction, and records
# its effects there (rows, events, counters). The machinery writes them in bulk with the inbox rows,
# in one transaction, then acks. A batch that fails is retried one event at a time (a one-element
# list), so a handler must be correct for one event as for many.
BatchHandler = Callable[[Writes, list[CloudEvent[Any]]], Awaitable[None]]


EventHandler = Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]


def each_event(handler: EventHandler) -> BatchHandler:
    """A BatchHandler that calls `handler(session, event)` for each event of the batch in turn: for
    consumers whose work per event is a statement or two (tests, examples, a region's subscriber)."""

    async def handle_each(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for cloud_event in events:
            await handler(writes.session, cloud_event)

    return handle_each


@dataclass
class ConsumerSpec:
    """A durable pull consumer. `durable` names it (no dots: NATS forbids them).

    `max_deliver` is how many times a message may fail on its own before it is dead-lettered (the
    server-side consumer itself has no limit: see the module docstring); `backoff` the delays before
    those retries. `handler_timeout` bounds one batch (and one message handled alone), default 30 s.
    `ack_wait` is how soon JetStream hands a batch held by a consumer that died to the next one: short
    (15 s), because a live consumer keeps its batch in progress however long the handling takes.
    While the database or NATS is down the consumer probes every `outage_backoff[0]` seconds,
    doubling up to `outage_backoff[1]`. A failure that looks like infrastructure while the
    probe answers is retried `transient_retries` times before it counts against the message.
    """

    durable: str
    stream: str
    filter_subject: str
    handler: BatchHandler
    batch: int = 200
    max_deliver: int = 5
    backoff: list[float] = field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])
    ack_wait: float = 15.0
    # How long a fetch waits for its batch to fill. nats-py returns a batch only when it is full or
    # this time has passed, so it bounds what each stage adds to a post's latency when the stream
    # trickles (at 1 s, 300 posts/s took 0.5 s per stage); under load batches fill at once. An idle
    # consumer asks the server again each time: 20 small requests a second.
    fetch_timeout: float = 0.05
    handler_timeout: float | None = None
    outage_backoff: tuple[float, float] = (0.5, 30.0)
    transient_retries: int = 3
    probe_timeout: float = 5.0

    @property
    def batch_timeout(self) -> float:
        return self.handler_timeout if self.handler_timeout is not None else 30.0

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.filter_subject,
            # Unlimited on the server: JetStream would drop a message silently at its limit. The
            # consumer counts itself and dead-letters (Consumer.process), so nothing is ever dropped.
            max_deliver=-1,
            ack_wait=self.ack_wait,
            # No server-side back-off: it would replace ack_wait by its first value (1 s), and the
            # retries of failed messages are timed by the consumer's naks.
            backoff=None,
            max_ack_pending=max(self.batch * 10, 1000),
        )


@dataclass
class ConsumerStats:
    """Counters of one consumer (read for metrics: keep the names)."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0  # naks of messages that failed on their own, retried later
    delivery_limit: int = 0  # dead-lettered on receipt: delivered too often without a verdict
    transient_retries: int = 0  # infrastructure-looking failures retried while the probe answered
    timeouts: int = 0  # batches or messages that ran longer than handler_timeout
    # Batches that failed whole and were retried one event at a time: right for a bad event among good
    # ones; anything else is a bug that makes the consumer many times slower while nothing is lost.
    split_batches: int = 0
    outages: int = 0  # pauses: the database or NATS was unavailable
    paused_seconds: float = 0.0  # total time paused
    paused: bool = False  # paused right now


class Consumer:
    """Fetches in batches, applies the handler inside one transaction with the inbox, acks after commit.

    See the module docstring for what pauses the consumer and what dead-letters a message.
    """

    def __init__(self, spec: ConsumerSpec, db: Database, *, nc: NatsClient | None = None) -> None:
        self.spec = spec
        self.db = db
        self.nc = nc
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()

    # --- the loop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fetching; the batch in hand is finished (`run` returns after it)."""
        self._stopping.set()

    def restart(self) -> None:
        self._stopping.clear()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, js: JetStreamContext) -> None:
        spec = self.spec
        if self.nc is None:
            self.nc = getattr(js, "_nc", None)
        while not self.stopping:
            subscription: PullBatches | None = None
            try:
                subscription = await self.subscribe(js)
                while not self.stopping:
                    try:
                        messages = await subscription.fetch(spec.batch, timeout=spec.fetch_timeout)
                    except TimeoutError:
                        continue  # an empty stream: normal for a pull consumer
                    await self.process(js, messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - re-arm the pull consumer after broker trouble
                if self.stopping:
                    break
                if self.nc is not None and not self.nc.is_connected:
                    # The connection log said it; wait for the reconnection quietly.
                    log.debug("consumer waits for NATS", extra={"consumer": spec.durable, "error": _short(exc)})
                    await self._wait_connected()
                else:
                    log.warning(
                        "consumer loop error, re-subscribing", extra={"consumer": spec.durable, "error": _short(exc)}
                    )
                    await self._sleep(1.0)
            finally:
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()

    async def subscribe(self, js: JetStreamContext) -> PullBatches:
        """Create the durable consumer, or bring an existing one to this spec's config, and bind to it."""
        spec = self.spec
        wanted = spec.config()
        try:
            current: ConsumerConfig | None = (await js.consumer_info(spec.stream, spec.durable)).config
        except nats.js.errors.NotFoundError:
            current = None
        if current is None or _config_differs(current, wanted):
            try:
                await js.add_consumer(spec.stream, wanted)  # creates, or updates the editable fields
            except nats.js.errors.APIError as exc:
                if current is None:
                    raise
                log.error(
                    "consumer config cannot be updated; running with the existing one",
                    extra={"consumer": spec.durable, "error": _short(exc)},
                )
        nc = self.nc if self.nc is not None else js._nc
        return await PullBatches(nc, spec.stream, spec.durable).start()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or less when the consumer is stopped; True when it was stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self.stopping

    async def _wait_connected(self) -> None:
        while not self.stopping and self.nc is not None and not self.nc.is_connected and not self.nc.is_closed:
            await self._sleep(0.2)

    # --- one batch -----------------------------------------------------------------------------

    async def process(self, js: JetStreamContext, messages: list[Msg]) -> None:
        """Handle one fetched batch: every message ends acked, nak'ed for a retry, or dead-lettered.

        While it runs, the messages not yet settled are kept in progress (no redelivery). When the
        consumer is stopped (or cancelled) in the middle, what is not settled is nak'ed, so that the
        next start gets it at once.
        """
        keeper = asyncio.create_task(self._keep_in_progress(messages), name=f"{self.spec.durable}-in-progress")
        try:
            await self._process(js, messages)
        finally:
            keeper.cancel()
            left = [msg for msg in messages if not msg.is_acked]
            for msg in left:
                with contextlib.suppress(Exception):
                    await msg.nak()
            if left:
                log.info("unfinished messages released", extra={"consumer": self.spec.durable, "count": len(left)})

    async def _keep_in_progress(self, messages: list[Msg]) -> None:
        interval = max(min(self.spec.ack_wait / 3, 20.0), 0.05)
        while True:
            await asyncio.sleep(interval)
            for msg in messages:
                if not msg.is_acked:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _process(self, js: JetStreamContext, messages: list[Msg]) -> None:
        decoded: list[tuple[Msg, CloudEvent[Any]]] = []
        for msg in messages:
            delivered = _deliveries(msg)
            if delivered > self.spec.max_deliver:
                self.stats.delivery_limit += 1
                await self.dead_letter(js, msg, f"{DELIVERY_LIMIT_REASON}: delivered {delivered} times")
                continue
            try:
                decoded.append((msg, decode_event(msg.data)))
            except BadEvent as exc:
                await self.dead_letter(js, msg, str(exc))
        if not decoded:
            return
        while True:
            try:
                await self._timed(self._apply_batch(decoded))
            except Exception as exc:  # noqa: BLE001 - an outage pauses; anything else: one by one
                down = await self._outage(exc)
                if down is not None:
                    if not await self._pause(down):
                        return
                    continue  # the same batch again: the outage did not count against it
                self.stats.split_batches += 1
                log.warning(
                    "batch failed, retrying one by one", extra={"consumer": self.spec.durable, "error": _short(exc)}
                )
                for msg, cloud_event in decoded:
                    if not await self._apply_one(js, msg, cloud_event):
                        return
                return
            for msg, _ in decoded:
                await msg.ack()
            return

    async def _timed(self, work: Awaitable[None]) -> None:
        timeout = asyncio.timeout(self.spec.batch_timeout)
        try:
            async with timeout:
                await work
        except TimeoutError:
            if not timeout.expired():
                raise  # a timeout inside the handler (a driver's, a request's): judged as such
            self.stats.timeouts += 1
            raise HandlerTimeout(f"the handler did not finish within {self.spec.batch_timeout:g} s") from None

    async def _apply_batch(self, decoded: list[tuple[Msg, CloudEvent[Any]]]) -> None:
        async with self.db.transaction() as session:
            seen = await already_processed(session, self.spec.durable, [e.id for _, e in decoded])
            fresh: list[CloudEvent[Any]] = []
            for _, cloud_event in decoded:
                if cloud_event.id not in seen:
                    seen.add(cloud_event.id)  # the same event twice in one batch is handled once
                    fresh.append(cloud_event)
            await self._handle(session.writes, fresh)
        self.stats.processed += len(fresh)
        self.stats.duplicates += len(decoded) - len(fresh)

    async def _apply_one(self, js: JetStreamContext, msg: Msg, cloud_event: CloudEvent[Any]) -> bool:
        """Handle one message in its own transaction; False when the consumer was stopped meanwhile."""
        transient = 0
        while True:
            duplicate = False
            try:
                await self._timed(self._apply_alone(cloud_event))
            except BadEvent as exc:
                await self.dead_letter(js, msg, str(exc), event_id=cloud_event.id)
                return True
            except _Duplicate:
                duplicate = True
            except Exception as exc:  # noqa: BLE001 - paused, retried at once, or counted against the message
                down = await self._outage(exc)
                if down is not None:
                    if not await self._pause(down):
                        return False
                    continue
                if is_infrastructure_failure(exc) and transient < self.spec.transient_retries:
                    transient += 1
                    self.stats.transient_retries += 1
                    log.info(
                        "transient failure while the database answers, retrying",
                        extra={"consumer": self.spec.durable, "event_id": cloud_event.id, "error": _short(exc)},
                    )
                    if await self._sleep(min(0.2 * 2**transient, 5.0)):
                        return False
                    continue
                await self._failed(js, msg, cloud_event, exc)
                return True
            if duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.processed += 1
            await msg.ack()
            return True

    async def replay(self, data: bytes) -> bool:
        """Apply a dead letter's event here, in-process, exactly as a delivery would be (handler and
        inbox in one transaction): False when this consumer had processed it already.

        A service replays its own dead letters this way, so its NATS user never needs to publish the
        subjects it consumes (which would let it forge another service's events)."""
        cloud_event = decode_event(data)
        try:
            await self._apply_alone(cloud_event)
        except _Duplicate:
            self.stats.duplicates += 1
            return False
        self.stats.processed += 1
        return True

    async def _apply_alone(self, cloud_event: CloudEvent[Any]) -> None:
        async with self.db.transaction() as session:
            if await already_processed(session, self.spec.durable, [cloud_event.id]):
                raise _Duplicate
            await self._handle(session.writes, [cloud_event])

    async def _failed(self, js: JetStreamContext, msg: Msg, cloud_event: CloudEvent[Any], exc: Exception) -> None:
        """The message failed on its own: nak it for a retry with back-off, or dead-letter it."""
        delivered = _deliveries(msg)
        if delivered >= self.spec.max_deliver:
            await self.dead_letter(js, msg, f"failed {delivered} times: {exc!r}", event_id=cloud_event.id)
            return
        self.stats.retried += 1
        delay = self.spec.backoff[min(delivered - 1, len(self.spec.backoff) - 1)] if self.spec.backoff else 0
        log.warning(
            "handler failed, will retry",
            extra={
                "consumer": self.spec.durable,
                "event_id": cloud_event.id,
                "delivery": delivered,
                "retry_in": delay,
                "error": _short(exc),
            },
        )
        await msg.nak(delay=delay)

    async def _handle(self, writes: Writes, events: list[CloudEvent[Any]]) -> None:
        if not events:
            return
        durable = self.spec.durable
        with batch_spans([(e.id, f"{durable} {e.type}", e.traceparent) for e in events]) as traceparents:
            writes.traceparents = traceparents
            await self.spec.handler(writes, events)
        processed_at = utcnow()
        writes.insert(
            InboxMessage, [{"consumer": durable, "event_id": e.id, "processed_at": processed_at} for e in events]
        )

    # --- outages -------------------------------------------------------------------------------

    async def probe(self) -> str | None:
        """None when the dependencies answer; else what is down.

        NATS must be connected, and the database must answer `SELECT 1` within `probe_timeout`
        (SQLite: must grant the write lock, `BEGIN IMMEDIATE`, since a locked file still reads).
        """
        if self.nc is not None and not self.nc.is_connected:
            return "NATS is not connected"
        try:
            async with asyncio.timeout(self.spec.probe_timeout):
                await probe_database(self.db, self.spec.probe_timeout)
        except Exception as exc:  # noqa: BLE001 - whatever stops the probe means the database is down
            return f"database: {_short(exc)}"
        return None

    async def _outage(self, exc: BaseException) -> str | None:
        """What is down, when `exc` looks like an outage (or a timeout) and the probe confirms it."""
        if not (is_infrastructure_failure(exc) or isinstance(exc, HandlerTimeout)):
            return None
        return await self.probe()

    async def _pause(self, cause: str) -> bool:
        """Hold the messages in hand (kept in progress) until the dependencies answer again.

        Probes with back-off from `outage_backoff[0]` up to the ceiling `outage_backoff[1]`, for as
        long as it takes. Returns False if the consumer was stopped meanwhile.
        """
        first, ceiling = self.spec.outage_backoff
        self.stats.outages += 1
        self.stats.paused = True
        started = time.monotonic()
        log.warning("dependency unavailable, consumer paused", extra={"consumer": self.spec.durable, "cause": cause})
        delay = first
        try:
            while True:
                if await self._sleep(delay):
                    return False
                down = await self.probe()
                if down is None:
                    break
                delay = min(delay * 2, ceiling)
        finally:
            paused = time.monotonic() - started
            self.stats.paused_seconds += paused
            self.stats.paused = False
        log.warning(
            "dependency answers again, consumer resumed",
            extra={"consumer": self.spec.durable, "paused_seconds": round(paused, 2)},
        )
        return True

    # --- dead letters --------------------------------------------------------------------------

    async def dead_letter(self, js: JetStreamContext, msg: Msg, reason: str, *, event_id: str | None = None) -> None:
        """Copy `msg` to `incidents.deadletter.<consumer>` with the reason in its headers, then ack it.

        If the copy cannot be published, the message is nak'ed: it comes back (the server-side
        consumer has no delivery limit) and is dead-lettered on receipt.
        """
        event_id, event_type = (event_id, None) if event_id else _identify(msg.data)
        headers = {
            DEAD_LETTER_REASON_HEADER: reason[:1000],
            ORIGINAL_SUBJECT_HEADER: msg.subject,
            DEAD_LETTER_CONSUMER_HEADER: self.spec.durable,
            DEAD_LETTERED_AT_HEADER: datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if event_id:
            headers[EVENT_ID_HEADER] = event_id[:200]
        if event_type:
            headers[EVENT_TYPE_HEADER] = event_type[:200]
        with contextlib.suppress(Exception):  # a message without JetStream metadata: no dedup id
            metadata = msg.metadata
            headers["Nats-Msg-Id"] = f"dl-{self.spec.durable}-{metadata.sequence.stream}"
            headers[ORIGINAL_STREAM_HEADER] = metadata.stream
            headers[ORIGINAL_SEQUENCE_HEADER] = str(metadata.sequence.stream)
            headers[DELIVERIES_HEADER] = str(metadata.num_delivered)
        try:
            await js.publish(dead_letter_subject(self.spec.durable), msg.data, headers=headers)
        except Exception as exc:  # noqa: BLE001 - never lose it: leave it for redelivery
            log.error("dead-letter publish failed", extra={"consumer": self.spec.durable, "error": _short(exc)})
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)
            return
        self.stats.dead_lettered += 1
        log.warning(
            "event dead-lettered",
            extra={"consumer": self.spec.durable, "reason": reason[:300], "event_id": event_id, "subject": msg.subject},
        )
        await msg.ack()


async def probe_database(db: Database, timeout: float = 5.0) -> None:
    """Raise unless the database answers: `SELECT 1`; on SQLite, take and release the write lock
    (waiting at most half of `timeout` for it, so that the probe ends before its deadline)."""
    async with db.engine.connect() as connection:
        if not db.is_sqlite:
            await connection.execute(text("SELECT 1"))
            return
        previous = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        await connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(int(timeout * 500), 1)}")
        try:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.rollback()
        finally:
            await connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")


class _Duplicate(Exception):
    """The event is in the inbox already: nothing to do but ack."""


def _deliveries(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered or 1)
    except Exception:  # noqa: BLE001 - not a JetStream message (tests): a first delivery
        return 1


def _identify(raw: bytes) -> tuple[str | None, str | None]:
    """The id and type of a CloudEvent, read leniently from a message that may not be one."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    event_id, event_type = document.get("id"), document.get("type")
    return (event_id if isinstance(event_id, str) else None, event_type if isinstance(event_type, str) else None)


def _config_differs(current: ConsumerConfig, wanted: ConsumerConfig) -> bool:
    def seconds(value: float | None) -> float:
        return round(float(value or 0), 3)

    return (
        current.max_deliver != wanted.max_deliver
        or seconds(current.ack_wait) != seconds(wanted.ack_wait)
        or bool(current.backoff) != bool(wanted.backoff)
        or current.max_ack_pending != wanted.max_ack_pending
        or current.filter_subject != wanted.filter_subject
    )


# ---------------------------------------------------------------------------------------------
# The per-service runtime: connection, streams, relay and consumers, started from the lifespan
# ---------------------------------------------------------------------------------------------


class EventRuntime:
    """Owns a service's NATS connection, its outbox relay and its consumers.

    `stop_timeout` bounds `stop()`: consumers finish the batch in hand (about 60 % of it), the relay
    flushes the outbox, the connection drains. `outbox_ack_timeout` is the relay's wait for the
    acknowledgements of one pass (a reconnection ends it at once).
    """

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
        stop_timeout: float = 10.0,
        outbox_ack_timeout: float = 15.0,
        streams: Sequence[Any] | None = None,
    ) -> None:
        self.db = db
        self.nats_url = nats_url
        self.client_name = client_name
        self.user = user
        self._password = password
        self.stop_timeout = stop_timeout
        self.streams = streams
        self.relay = OutboxRelay(db, batch=outbox_batch, ack_timeout=outbox_ack_timeout)
        self.consumers = [Consumer(spec, db) for spec in consumers]
        self.connection_log = ConnectionLog(client_name)
        self.connection_log.on_reconnect.append(self.relay.reconnected)
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    async def start(self) -> None:
        # A runtime stopped before may start again (an app whose lifespan runs twice).
        self.connection_log.closing = False
        self.relay.restart()
        for consumer in self.consumers:
            consumer.restart()
        self._connecting = asyncio.create_task(self._connect_and_run(), name=f"{self.client_name}-events")

    async def _connect_and_run(self) -> None:
        self.nc = await connect(
            self.nats_url,
            self.client_name,
            attempts=10_000,
            user=self.user,
            password=self._password,
            connection_log=self.connection_log,
            drain_timeout=max(self.stop_timeout / 3, 1.0),
        )
        self.js = self.nc.jetstream()
        if self.streams is None:
            await ensure_streams(self.js)
        else:
            await ensure_streams(self.js, self.streams)
        self.relay.js = self.js
        self.relay.nc = self.nc
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.client_name}-outbox")
        for consumer in self.consumers:
            consumer.nc = self.nc
            self._consumer_tasks.append(asyncio.create_task(consumer.run(self.js), name=consumer.spec.durable))
        self.ready.set()
        log.info("event runtime ready", extra={"consumers": [c.spec.durable for c in self.consumers]})

    async def stop(self) -> None:
        """Drain within `stop_timeout`: consumers finish the batch in hand and stop fetching, the
        outbox relay flushes, the connection drains (what is cut short is redelivered or published
        at the next start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout

        def left(share: float = 1.0) -> float:
            return max((deadline - loop.time()) * share, 0.0)

        self.connection_log.closing = True
        if self._connecting is not None:
            await _finish([self._connecting], 0.0)  # still connecting: give up; else: already done
            self._connecting = None
        for consumer in self.consumers:
            consumer.stop()
        await _finish(self._consumer_tasks, left(0.6))
        self._consumer_tasks = []
        self.relay.stop()
        if self._relay_task is not None:
            await _finish([self._relay_task], left(0.5))
            self._relay_task = None
        nc = self.nc
        if nc is not None and not nc.is_closed:
            await self._flush_outbox(left(0.7))
            try:
                await asyncio.wait_for(nc.drain(), timeout=max(left(), 0.5))
            except Exception as exc:  # noqa: BLE001 - a drain cut short: close
                log.info("nats drain cut short, closing", extra={"client": self.client_name, "error": _short(exc)})
            finally:
                if not nc.is_closed:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def _flush_outbox(self, budget: float) -> None:
        """Publish what the last requests queued, until the outbox is empty or the budget is spent."""
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        self.relay.ack_timeout = min(self.relay.ack_timeout, max(budget, 0.1))
        while loop.time() < until:
            try:
                published = await asyncio.wait_for(self.relay.publish_pending(), timeout=until - loop.time())
            except Exception as exc:  # noqa: BLE001 - whatever is left goes out at the next start
                log.info("outbox flush at shutdown cut short", extra={"error": _short(exc)})
                return
            if published < self.relay.batch:
                return

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected


async def _finish(tasks: Sequence[asyncio.Task[None]], timeout: float) -> None:
    """Wait for `tasks` to end by themselves for up to `timeout`, then cancel the rest."""
    pending = {task for task in tasks if not task.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(timeout, 0.0))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2.0)
    for task in tasks:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            log.warning("task ended with an error", extra={"task": task.get_name(), "error": _short(error)})
