"""Consumers under failure: outages pause (nothing is dead-lettered), poison messages are dead-lettered,
messages that crashed the consumer end in the dead-letter stream, shutdown drains, the relay republishes
promptly after a reconnect. Against a real nats-server and real databases; a PostgreSQL outage is a
TCP proxy in front of the real server that stops accepting and cuts every connection, then comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js.api import AckPolicy
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.app import readiness_checks
from incidents_common.db import Database, InboxMessage, OutboxMessage, publish
from incidents_common.events import (
    SUBJECT_POST_COLLECTED,
    BadEvent,
    CloudEvent,
    PostCollected,
    SourceType,
    dead_letter_subject,
    encode_event,
    new_event,
)
from incidents_common.nats import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_REASON_HEADER,
    DELIVERY_LIMIT_REASON,
    EVENT_ID_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    Consumer,
    ConsumerSpec,
    EventRuntime,
    HandlerTimeout,
    each_event,
    is_infrastructure_failure,
)
from incidents_common.processes import NatsServer, free_port
from incidents_common.streams import ensure_streams
from incidents_common.testing import eventually, read_stream, started


class Effect(SQLModel, table=True):
    """What the routing-like handler does: one row per post (the effect counted by the tests)."""

    __tablename__ = "test_outage_effect"
    id: int | None = Field(default=None, primary_key=True)
    post_id: str


def _post(name: str) -> PostCollected:
    now = datetime.now(UTC)
    return PostCollected(
        post_id=name,
        source_type=SourceType.push,
        external_id=name,
        text=f"Яма на дороге {name}",
        published_at=now,
        collected_at=now,
    )


def _event(name: str) -> CloudEvent[Any]:
    return new_event(_post(name), source="/test", event_id=f"ev-{name}-{uuid.uuid4().hex[:6]}")


async def _publish(js: Any, *names: str) -> list[CloudEvent[Any]]:
    events = [_event(name) for name in names]
    for event in events:
        await js.publish(SUBJECT_POST_COLLECTED, encode_event(event), headers={"Nats-Msg-Id": event.id})
    return events


async def _count(db: Database, table: Any = Effect) -> int:
    async with db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


def _handler(*, poison: str | None = None, calls: list[str] | None = None) -> Callable[..., Awaitable[None]]:
    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if calls is not None:
            calls.append(event.data.post_id)
        if event.data.post_id == poison:
            raise ValueError(f"no department for {event.data.post_id}")
        session.add(Effect(post_id=event.data.post_id))

    return handle


async def _dead_letters(url: str, durable: str) -> list[Any]:
    return await read_stream(url, dead_letter_subject(durable), timeout=0.3)


# ---------------------------------------------------------------------------------------------
# A PostgreSQL that goes away and comes back: a TCP proxy to the real server's socket
# ---------------------------------------------------------------------------------------------


class PostgresProxy:
    """127.0.0.1:<port> → the pgserver's unix socket. `down()` refuses new connections and cuts the
    open ones (what clients see when PostgreSQL stops); `up()` listens on the same port again."""

    def __init__(self, libpq_url: str) -> None:
        url = make_url(libpq_url)
        socket_dir = url.query.get("host")
        self.target_socket = f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if socket_dir else None
        self.target_host, self.target_port = url.host or "127.0.0.1", url.port or 5432
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.target_socket:
            return await asyncio.open_unix_connection(self.target_socket)
        return await asyncio.open_connection(self.target_host, self.target_port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await self._open()
        except OSError:
            writer.close()
            return
        self.writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.writers -= {writer, upstream_writer}

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def down(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.writers.clear()

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
async def pg_proxy(postgres_libpq_url: str) -> AsyncIterator[tuple[PostgresProxy, str]]:
    """A proxy in front of the session's PostgreSQL and the URL of a fresh database through it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_libpq_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    proxy = PostgresProxy(postgres_libpq_url)
    await proxy.up()
    try:
        yield proxy, proxy.url(name)
    finally:
        await proxy.down()


def _spec(durable: str, handler: Any, **overrides: Any) -> ConsumerSpec:
    values: dict[str, Any] = {
        "max_deliver": 2,
        "backoff": [0.05],
        "ack_wait": 2.0,
        "fetch_timeout": 0.3,
        "handler_timeout": 10.0,
        "outage_backoff": (0.05, 0.3),
        "probe_timeout": 2.0,
    }
    return ConsumerSpec(durable, "POSTS", SUBJECT_POST_COLLECTED, each_event(handler), **(values | overrides))


# ---------------------------------------------------------------------------------------------
# Outage or poison: the classification
# ---------------------------------------------------------------------------------------------


def _raised(outer: BaseException, cause: BaseException | None = None, *, suppress: bool = False) -> BaseException:
    try:
        try:
            if cause is not None:
                raise cause
            raise outer
        except BaseException as inner:
            if inner is outer:
                raise
            if suppress:
                raise outer from None
            raise outer from inner
    except BaseException as caught:
        return caught


def _wrapped(orig: BaseException, cls: type[sa_exc.DBAPIError] = sa_exc.OperationalError, **kwargs: Any) -> Any:
    return cls("SELECT 1", {}, orig, **kwargs)  # type: ignore[arg-type]


INFRASTRUCTURE = {
    "connection refused": ConnectionRefusedError(111, "Connect call failed"),
    "connection reset": ConnectionResetError(),
    "a socket timeout": TimeoutError(),
    "sqlite locked": _wrapped(sqlite3.OperationalError("database is locked")),
    "sqlite unopenable": _wrapped(sqlite3.OperationalError("unable to open database file")),
    "a disconnect": _wrapped(Exception("connection is closed"), sa_exc.DBAPIError, connection_invalidated=True),
    "an interface error": _wrapped(Exception("connection lost"), sa_exc.InterfaceError),
    "postgres operational error": _wrapped(Exception("server closed the connection")),
    "the pool is exhausted": sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
    "postgres starting up": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "postgres shut down": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "too many connections": asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    "connection does not exist": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    "a deadlock": asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    "a standby": asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"),
    "asyncpg's wrapper": _wrapped(asyncpg.exceptions.AdminShutdownError("terminating"), sa_exc.DBAPIError),
    "nats closed": nats.errors.ConnectionClosedError(),
    "no nats servers": nats.errors.NoServersError(),
    "nats reconnecting": nats.errors.ConnectionReconnectingError(),
    "a nats request timeout": nats.errors.TimeoutError(),
    "caused by a reset": _raised(ValueError("bad row"), ConnectionResetError()),
    "in a group": ExceptionGroup("batch", [ValueError("x"), ConnectionRefusedError()]),
}
CONTENT = {
    "a value error": ValueError("no department for region 99"),
    "a key error": KeyError("category"),
    "a bad event": BadEvent("unknown event type"),
    "a bad event caused by a socket error": _raised(BadEvent("not JSON"), OSError()),
    "sqlite: no such table": _wrapped(sqlite3.OperationalError("no such table: incident")),
    "sqlite: syntax": _wrapped(sqlite3.OperationalError('near "SELEC": syntax error')),
    "a unique violation": _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key"), sa_exc.IntegrityError),
    "a statement timeout": asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    "a handler timeout": HandlerTimeout("the handler did not finish within 30 s"),
    "a suppressed socket error": _raised(ValueError("bad"), OSError(), suppress=True),
    "nats: a permissions-free API error": nats.errors.BadSubjectError(),
}


@pytest.mark.parametrize("name", sorted(INFRASTRUCTURE))
def test_unavailable_dependencies_are_infrastructure_failures(name: str) -> None:
    assert is_infrastructure_failure(INFRASTRUCTURE[name])


@pytest.mark.parametrize("name", sorted(CONTENT))
def test_failures_of_the_message_are_not(name: str) -> None:
    assert not is_infrastructure_failure(CONTENT[name])


async def test_a_real_refused_database_connection_is_an_infrastructure_failure(tmp_path: Path) -> None:
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing", [])
    try:
        with pytest.raises(Exception) as raised:  # noqa: PT011 - whatever the driver raises
            async with db.transaction() as session:
                await session.exec(select(1))  # type: ignore[call-overload]
        assert is_infrastructure_failure(raised.value)
    finally:
        await db.dispose()
    locked = Database(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}", [Effect])
    await locked.create_tables()
    holder = sqlite3.connect(tmp_path / "locked.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        async with locked.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA busy_timeout = 50")
            with pytest.raises(sa_exc.OperationalError) as raised_locked:
                await connection.exec_driver_sql("INSERT INTO test_outage_effect (post_id) VALUES ('x')")
            await connection.exec_driver_sql("PRAGMA busy_timeout = 10000")
        assert is_infrastructure_failure(raised_locked.value)
    finally:
        holder.rollback()
        holder.close()
        await locked.dispose()


# ---------------------------------------------------------------------------------------------
# Outages pause the consumer
# ---------------------------------------------------------------------------------------------


async def test_a_postgres_outage_longer_than_the_retry_window_loses_nothing(
    nats_url: str, pg_proxy: tuple[PostgresProxy, str]
) -> None:
    proxy, url = pg_proxy
    db = Database(url, [Effect])
    spec = _spec("test-outage", _handler(), ack_wait=1.0)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="outage", consumers=[spec])
    async with started(runtime):
        consumer = runtime.consumers[0]
        probes = 0
        real_probe = consumer.probe

        async def counted_probe() -> str | None:
            nonlocal probes
            probes += 1
            return await real_probe()

        consumer.probe = counted_probe  # type: ignore[method-assign]
        assert runtime.js is not None
        info = await eventually(lambda: _consumer_info(runtime.js, "test-outage"))
        assert info.config.max_deliver == -1, "the server must never drop a message at a delivery limit"

        await proxy.down()
        events = await _publish(runtime.js, *(f"o{n}" for n in range(30)))
        await eventually(lambda: _value(consumer.stats.paused), timeout=20)
        # Many probes while down: far longer than max_deliver (2) × ack_wait (1 s), and than the old
        # retry window, which would have dead-lettered every message in well under a second.
        await eventually(lambda: _value(probes), until=lambda n: n >= 15, timeout=30)
        assert consumer.stats.dead_lettered == 0 and consumer.stats.retried == 0
        await proxy.up()

        await eventually(lambda: _count(db), until=lambda n: n == len(events), timeout=30)
        await eventually(lambda: _value(consumer.stats.processed), until=lambda n: n == len(events))
        assert await _count(db, InboxMessage) == len(events)
        assert consumer.stats.dead_lettered == 0 and consumer.stats.retried == 0
        assert consumer.stats.outages >= 1 and consumer.stats.paused_seconds > 0 and not consumer.stats.paused
        info = await eventually(
            lambda: runtime.js.consumer_info("POSTS", "test-outage"),  # type: ignore[union-attr]
            until=lambda i: i.num_ack_pending == 0 and i.num_pending == 0,
        )
        assert info.num_redelivered == 0, "the outage must not have cost any message a delivery"
        assert info.delivered.consumer_seq == len(events), "each message was delivered exactly once"
    assert await _dead_letters(nats_url, "test-outage") == []


async def test_an_outage_during_one_by_one_retries_pauses_too(nats_url: str, tmp_path: Path) -> None:
    """A batch that fails for a message's content goes one by one; an outage then pauses, and the
    message that was being retried keeps its count."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", [Effect])
    state = {"down": False}
    real_probe_down: list[str] = []

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if event.data.post_id == "bad":
            raise ValueError("bad content")
        if state["down"]:
            raise ConnectionRefusedError(111, "Connect call failed")
        session.add(Effect(post_id=event.data.post_id))

    spec = _spec("test-one-by-one", handle, max_deliver=3, batch=10)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="obo", consumers=[spec])
    async with started(runtime):
        consumer = runtime.consumers[0]

        async def probe() -> str | None:
            if state["down"]:
                real_probe_down.append("down")
                return "database: down (test)"
            return None

        consumer.probe = probe  # type: ignore[method-assign]
        state["down"] = True
        assert runtime.js is not None
        await _publish(runtime.js, "a", "bad", "b")
        await eventually(lambda: _value(len(real_probe_down)), until=lambda n: n >= 10)
        assert consumer.stats.retried == 0 and consumer.stats.dead_lettered == 0
        state["down"] = False
        await eventually(lambda: _count(db), until=lambda n: n == 2)
        dead = await eventually(lambda: _dead_letters(nats_url, "test-one-by-one"), until=lambda m: len(m) == 1)
        assert dead[0].headers[DEAD_LETTER_REASON_HEADER].startswith("failed 3 times: ValueError('bad content')")


async def test_a_transient_failure_while_the_database_answers_is_retried_without_counting(
    nats_url: str, tmp_path: Path
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", [Effect])
    failures = {"left": 2}

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise _wrapped(Exception("connection was reset"), sa_exc.DBAPIError, connection_invalidated=True)
        session.add(Effect(post_id=event.data.post_id))

    runtime = EventRuntime(
        db=db, nats_url=nats_url, client_name="transient", consumers=[_spec("test-transient", handle)]
    )
    async with started(runtime):
        assert runtime.js is not None
        await _publish(runtime.js, "t1")
        await eventually(lambda: _count(db), until=lambda n: n == 1)
        stats = runtime.consumers[0].stats
        assert stats.transient_retries >= 1 and stats.retried == 0 and stats.dead_lettered == 0 and stats.outages == 0


async def test_a_locked_sqlite_database_pauses_the_consumer(nats_url: str, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", [Effect])
    # A shorter busy timeout than the service's 10 s, after its own pragmas: the test need not wait 10 s.
    sa_event.listen(
        db.engine.sync_engine, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=300")
    )
    runtime = EventRuntime(
        db=db, nats_url=nats_url, client_name="locked", consumers=[_spec("test-locked", _handler(), max_deliver=1)]
    )
    async with started(runtime):
        consumer = runtime.consumers[0]
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock: reads still work
        try:
            # The batch waits out busy_timeout, fails "database is locked", the probe
            # cannot take the write lock either, and the consumer pauses instead of failing the message.
            assert runtime.js is not None
            await _publish(runtime.js, "l1")
            await eventually(lambda: _value(consumer.stats.paused), timeout=40)
            # The batch holds the cycle collector off while it is applied (nats.gcpause), but an
            # outage may last: paused, the consumer must not keep it off.
            assert gc.isenabled()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await eventually(lambda: _count(db), until=lambda n: n == 1, timeout=30)
        assert consumer.stats.dead_lettered == 0 and consumer.stats.retried == 0


# ---------------------------------------------------------------------------------------------
# Poison messages and the delivery limit
# ---------------------------------------------------------------------------------------------


async def test_a_poison_message_is_dead_lettered_while_the_others_flow(nats_url: str, database_url: str) -> None:
    db = Database(database_url, [Effect])
    calls: list[str] = []
    spec = _spec("test-poison", _handler(poison="poison", calls=calls), max_deliver=3, batch=5)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="poison", consumers=[spec])
    async with started(runtime):
        assert runtime.js is not None
        names = [f"g{n}" for n in range(8)] + ["poison"] + [f"h{n}" for n in range(8)]
        events = await _publish(runtime.js, *names)
        await eventually(lambda: _count(db), until=lambda n: n == 16)
        dead = await eventually(lambda: _dead_letters(nats_url, "test-poison"), until=lambda m: len(m) == 1)
        headers = dead[0].headers
        assert headers[DEAD_LETTER_REASON_HEADER] == "failed 3 times: ValueError('no department for poison')"
        assert headers[ORIGINAL_SUBJECT_HEADER] == SUBJECT_POST_COLLECTED
        assert headers[DEAD_LETTER_CONSUMER_HEADER] == "test-poison"
        assert headers[EVENT_ID_HEADER] == events[8].id
        assert dead[0].data == encode_event(events[8])
        stats = runtime.consumers[0].stats
        assert stats.dead_lettered == 1 and stats.retried == 2 and stats.outages == 0
        assert calls.count("poison") == 6, "3 deliveries, each in the batch and then alone"


async def test_a_message_that_crashed_the_consumer_ends_in_the_dead_letter_stream(
    nats_url: str, tmp_path: Path
) -> None:
    """Each delivery of the message 'crashes' the process (fetched, never acked, ack_wait runs out);
    once the limit is spent, the next delivery goes to the dead-letter stream unhandled."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}", [Effect])
    calls: list[str] = []
    spec = _spec("test-crash", _handler(calls=calls), max_deliver=3, ack_wait=0.5)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        crasher = Consumer(spec, db)
        subscription = await crasher.subscribe(js)  # the durable, exactly as the service creates it
        (event,) = await _publish(js, "crasher")
        delivered = 0
        while delivered < spec.max_deliver:
            try:
                (msg,) = await subscription.fetch(1, timeout=2)
            except nats.errors.TimeoutError:
                continue
            delivered = msg.metadata.num_delivered  # the process 'dies' here: no ack, no nak
        await subscription.unsubscribe()
        info = await js.consumer_info("POSTS", "test-crash")
        assert info.config.ack_policy == AckPolicy.EXPLICIT and info.config.max_deliver == -1
    finally:
        await nc.close()

    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="crash", consumers=[spec])
    async with started(runtime):
        dead = await eventually(lambda: _dead_letters(nats_url, "test-crash"), until=lambda m: len(m) == 1)
        reason = dead[0].headers[DEAD_LETTER_REASON_HEADER]
        assert reason.startswith(DELIVERY_LIMIT_REASON) and "delivered 4 times" in reason
        assert dead[0].headers[EVENT_ID_HEADER] == event.id
        assert calls == [], "a message past its delivery limit is not handled again"
        assert runtime.consumers[0].stats.delivery_limit == 1
        assert await _count(db) == 0


async def test_a_hanging_handler_does_not_hold_the_consumer(nats_url: str, tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hang.db'}", [Effect])
    never = asyncio.Event()

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if event.data.post_id == "hang":
            await never.wait()
        session.add(Effect(post_id=event.data.post_id))

    spec = _spec("test-hang", handle, max_deliver=2, handler_timeout=0.3, batch=5)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="hang", consumers=[spec])
    async with started(runtime):
        assert runtime.js is not None
        await _publish(runtime.js, "x1", "hang", "x2", "x3")
        await eventually(lambda: _count(db), until=lambda n: n == 3)
        dead = await eventually(lambda: _dead_letters(nats_url, "test-hang"), until=lambda m: len(m) == 1)
        assert dead[0].headers[DEAD_LETTER_REASON_HEADER].startswith("failed 2 times: HandlerTimeout(")
        assert runtime.consumers[0].stats.timeouts >= 2


# ---------------------------------------------------------------------------------------------
# Shutdown drains
# ---------------------------------------------------------------------------------------------


async def test_stopping_mid_batch_finishes_the_batch_and_the_rest_comes_after_restart(
    nats_url: str, database_url: str
) -> None:
    db = Database(database_url, [Effect])
    entered, release = asyncio.Event(), asyncio.Event()

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if event.data.post_id == "d0" and not release.is_set():
            entered.set()
            await release.wait()
        session.add(Effect(post_id=event.data.post_id))

    spec = _spec("test-drain", handle, batch=4)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="drain", consumers=[spec], stop_timeout=20)
    await db.create_tables()
    await runtime.start()
    await asyncio.wait_for(runtime.ready.wait(), 20)
    assert runtime.js is not None
    consumer = runtime.consumers[0]
    batches: list[int] = []
    process = consumer.process

    async def recorded(js: Any, messages: list[Any]) -> None:
        batches.append(len(messages))
        await process(js, messages)

    consumer.process = recorded  # type: ignore[method-assign]
    await _publish(runtime.js, *(f"d{n}" for n in range(10)))
    await asyncio.wait_for(entered.wait(), 20)
    stopping = asyncio.create_task(runtime.stop())
    await eventually(lambda: _value(consumer.stopping))
    release.set()  # the batch in hand finishes while the runtime stops
    await stopping
    assert len(batches) == 1, "after the stop nothing more is fetched"
    assert consumer.stats.processed == batches[0] == await _count(db), "the batch in hand is finished and acked"

    again = EventRuntime(db=db, nats_url=nats_url, client_name="drain", consumers=[spec])
    async with started(again):
        await eventually(lambda: _count(db), until=lambda n: n == 10)
        assert again.consumers[0].stats.duplicates == 0, "what was acked before the stop is not redelivered"
        assert again.consumers[0].stats.processed == 10 - batches[0]
        assert await _count(db, InboxMessage) == 10


async def test_a_batch_that_cannot_finish_in_time_is_released_and_processed_once_after_restart(
    nats_url: str, tmp_path: Path
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stuck.db'}", [Effect])
    entered = asyncio.Event()
    stuck = {"on": True}

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        session.add(Effect(post_id=event.data.post_id))
        if stuck["on"] and event.data.post_id == "s2":
            entered.set()
            await asyncio.Event().wait()  # hangs until cancelled

    spec = _spec("test-stuck", handle, batch=10, ack_wait=30.0)
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="stuck", consumers=[spec], stop_timeout=1.0)
    await db.create_tables()
    await runtime.start()
    await asyncio.wait_for(runtime.ready.wait(), 20)
    assert runtime.js is not None
    await _publish(runtime.js, *(f"s{n}" for n in range(5)))
    await asyncio.wait_for(entered.wait(), 20)
    await runtime.stop()  # bounded: the batch is cancelled, rolled back and released (nak)
    async with db.transaction() as session:
        done = set((await session.exec(select(Effect.post_id))).all())
    assert "s2" not in done, "the stuck batch was rolled back"

    stuck["on"] = False
    again = EventRuntime(db=db, nats_url=nats_url, client_name="stuck", consumers=[spec])
    async with started(again):
        # Released, not left to ack_wait (30 s): redelivered at once, and processed exactly once.
        await eventually(lambda: _count(db), until=lambda n: n == 5)
        assert await _count(db, InboxMessage) == 5
        assert again.consumers[0].stats.dead_lettered == 0


async def test_stop_flushes_the_outbox(nats_url: str, tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'out.db'}", [])
    runtime = EventRuntime(db=db, nats_url=nats_url, client_name="flush")
    async with started(runtime):
        runtime.relay.stop()  # the relay's loop ends: nothing publishes these rows …
        await eventually(lambda: _value(runtime._relay_task.done()))  # type: ignore[union-attr]  # noqa: SLF001
        async with db.transaction() as session:
            for n in range(3):
                publish(session, _post(f"f{n}"), source="/test")
    # … stop() published them before closing.
    assert await _count(db, OutboxMessage) == 0
    assert len(await read_stream(nats_url, SUBJECT_POST_COLLECTED)) == 3


# ---------------------------------------------------------------------------------------------
# Reconnects: the relay publishes again at once, the log says it in one line
# ---------------------------------------------------------------------------------------------


async def test_the_relay_republishes_at_once_after_a_broker_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(tmp_path / "jetstream").start()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", [])
    runtime = EventRuntime(db=db, nats_url=server.url, client_name="relay", outbox_ack_timeout=300.0)
    try:
        caplog.set_level(logging.DEBUG)
        async with started(runtime):
            assert server.process is not None and runtime.js is not None
            server.process.send_signal(signal.SIGSTOP)  # the broker hangs: no acknowledgement comes
            async with db.transaction() as session:
                for n in range(20):
                    publish(session, _post(f"r{n}"), source="/test")
            await eventually(lambda: _value(runtime.relay.awaiting_acks), until=lambda n: n == 20)
            server.process.kill()  # … then dies; it restarts on the same port and storage
            server.process.wait()
            server.start()
            # Without the reconnect hook the pass would wait out its 300 s acknowledgement timeout.
            await eventually(lambda: _count(db, OutboxMessage), until=lambda n: n == 0, timeout=30)
            assert runtime.relay.interrupted >= 1
            assert len(await read_stream(server.url, SUBJECT_POST_COLLECTED)) == 20, "once each (Nats-Msg-Id)"
        records = [r for r in caplog.records if r.name.startswith(("incidents.nats", "nats"))]
        lost = [r for r in records if r.getMessage() == "nats connection lost, reconnecting"]
        back = [r for r in records if r.getMessage() == "nats reconnected"]
        assert len(lost) == 1 and len(back) == 1 and {r.levelno for r in lost + back} == {logging.WARNING}
        noisy = [r for r in records if r.levelno >= logging.WARNING and r not in lost + back]
        assert not [r for r in noisy if r.exc_info], "no traceback for an expected reconnect"
        assert not [r for r in records if r.name.startswith("nats") and r.levelno >= logging.ERROR]
    finally:
        server.stop()


async def test_consumers_resume_after_a_broker_restart(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "jetstream").start()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'resume.db'}", [Effect])
    runtime = EventRuntime(
        db=db, nats_url=server.url, client_name="resume", consumers=[_spec("test-resume", _handler())]
    )
    try:
        async with started(runtime):
            assert runtime.js is not None
            await _publish(runtime.js, "before")
            await eventually(lambda: _count(db), until=lambda n: n == 1)
            server.stop()
            server.start()
            await eventually(lambda: _value(runtime.connected))
            nc = await nats.connect(server.url)
            try:
                await _publish(nc.jetstream(), "after")
            finally:
                await nc.close()
            await eventually(lambda: _count(db), until=lambda n: n == 2, timeout=30)
            assert runtime.consumers[0].stats.dead_lettered == 0
    finally:
        server.stop()


async def _consumer_info(js: Any, durable: str) -> Any:
    """The durable's info once the consumer has created it (None before)."""
    try:
        return await js.consumer_info("POSTS", durable)
    except nats.js.errors.NotFoundError:
        return None


async def _value(value: Any) -> Any:
    return value


def test_the_spec_configures_the_server_without_a_delivery_limit() -> None:
    config = _spec("x", _handler()).config()
    assert config.max_deliver == -1 and not config.backoff and config.ack_wait == 2.0
    assert replace(_spec("x", _handler()), handler_timeout=None, ack_wait=60).batch_timeout == 30


async def test_a_service_started_before_jetstream_answers_sets_up_its_streams_once_it_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A broker that accepts connections but has no JetStream yet (as one restarting, or busy
    # recovering its store): the set-up fails, and must be retried rather than leave the service
    # up with no consumers.
    bare = NatsServer(tmp_path / "bare", jetstream=False).start()
    server = NatsServer(tmp_path / "jetstream", port=bare.port)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}", [Effect])
    runtime = EventRuntime(db=db, nats_url=server.url, client_name="late", consumers=[_spec("test-late", _handler())])
    caplog.set_level(logging.INFO)
    try:
        await db.create_tables()
        await runtime.start()
        await eventually(
            lambda: _value([r for r in caplog.records if r.getMessage() == "stream set-up failed, retrying"]),
            until=bool,
            timeout=20,
        )
        assert (await readiness_checks(db, runtime))["nats"] == "connected; streams not set up yet"
        bare.stop()
        server.start()
        await asyncio.wait_for(runtime.ready.wait(), 30)
        assert (await readiness_checks(db, runtime))["nats"] == "ok"
        assert runtime.js is not None
        await _publish(runtime.js, "late")
        await eventually(lambda: _count(db), until=lambda n: n == 1, timeout=30)
    finally:
        await runtime.stop()
        await db.dispose()
        bare.stop()
        server.stop()
