"""The shared event machinery against a real nats-server and real databases."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlmodel import Field, SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, InboxMessage, OutboxMessage, RawJson, Writes, publish
from incidents_common.events import (
    SUBJECT_POST_COLLECTED,
    CloudEvent,
    PostCollected,
    SourceType,
    dead_letter_subject,
    decode_event,
    new_event,
)
from incidents_common.nats import ConsumerSpec, EventRuntime, each_event
from incidents_common.testing import eventually, read_stream

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class SeenPost(SQLModel, table=True):
    __tablename__ = "test_seen_post"
    id: int | None = Field(default=None, primary_key=True)
    post_id: str


def _post(n: int) -> PostCollected:
    now = datetime.now(UTC)
    return PostCollected(
        post_id=f"p{n}",
        source_type=SourceType.push,
        external_id=str(n),
        text=f"Яма на дороге номер {n}",
        published_at=now,
        collected_at=now,
    )


async def _stat(stats: Any, name: str) -> int:
    return int(getattr(stats, name))


async def _count(db: Database) -> int:
    async with db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(SeenPost))).one()


class TestOutboxAndInbox:
    async def test_events_flow_once_even_when_redelivered(self, nats_url: str, database_url: str) -> None:
        producer_db = Database(database_url, [])
        consumer_db = Database(database_url.replace("test.db", "consumer.db"), [SeenPost])
        handled: list[str] = []

        async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
            handled.append(event.id)
            session.add(SeenPost(post_id=event.data.post_id))

        consumer = ConsumerSpec("test-post-collected", "POSTS", SUBJECT_POST_COLLECTED, each_event(handle))
        producer = EventRuntime(db=producer_db, nats_url=nats_url, client_name="producer")
        receiver = EventRuntime(db=consumer_db, nats_url=nats_url, client_name="receiver", consumers=[consumer])
        for db in (producer_db, consumer_db):
            await db.create_tables()
        await producer.start()
        await receiver.start()
        try:
            async with producer_db.transaction() as session:
                events = [publish(session, _post(n), source="/test") for n in range(50)]
            assert await eventually(lambda: _count(consumer_db), until=lambda n: n == 50)
            async with producer_db.transaction() as session:
                assert (await session.exec(select(func.count()).select_from(OutboxMessage))).one() == 0

            # A relay that crashed after publishing re-publishes: the server drops it (Nats-Msg-Id).
            assert producer.js is not None
            raw = orjson.dumps(events[0].model_dump(mode="json"))
            ack = await producer.js.publish(SUBJECT_POST_COLLECTED, raw, headers={"Nats-Msg-Id": events[0].id})
            assert ack.duplicate
            # A redelivery that slips past the window (other id header) is absorbed by the inbox: wait
            # for the consumer to count it as a duplicate, then nothing was handled or stored twice.
            await producer.js.publish(SUBJECT_POST_COLLECTED, raw)
            stats = receiver.consumers[0].stats
            await eventually(lambda: _stat(stats, "duplicates"), until=lambda n: n >= 1)
            assert (stats.duplicates, stats.processed) == (1, 50)
            assert len(handled) == len(set(handled)) == 50
            assert await _count(consumer_db) == 50
            async with consumer_db.transaction() as session:
                inbox = (await session.exec(select(InboxMessage.event_id))).all()
            assert sorted(inbox) == sorted(e.id for e in events)
        finally:
            await producer.stop()
            await receiver.stop()
            await producer_db.dispose()
            await consumer_db.dispose()

    async def test_malformed_event_is_dead_lettered_and_does_not_block(
        self, nats_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="incidents.nats")
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", [SeenPost])
        await db.create_tables()

        async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
            session.add(SeenPost(post_id=event.data.post_id))

        spec = ConsumerSpec("test-dlq", "POSTS", SUBJECT_POST_COLLECTED, each_event(handle))
        runtime = EventRuntime(db=db, nats_url=nats_url, client_name="dlq", consumers=[spec])
        await runtime.start()
        await asyncio.wait_for(runtime.ready.wait(), 10)
        try:
            assert runtime.js is not None
            await runtime.js.publish(SUBJECT_POST_COLLECTED, b"{not json")
            traced = {"specversion": "1.0", "type": "nope", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
            await runtime.js.publish(SUBJECT_POST_COLLECTED, orjson.dumps(traced))
            good = publish_raw = orjson.dumps(
                {
                    "specversion": "1.0",
                    "id": "e-good",
                    "source": "/test",
                    "type": "ru.incidents.post.collected",
                    "time": datetime.now(UTC).isoformat(),
                    "data": _post(1).model_dump(mode="json"),
                }
            )
            await runtime.js.publish(SUBJECT_POST_COLLECTED, publish_raw)
            assert await eventually(lambda: _count(db), until=lambda n: n == 1)
            dead = await read_stream(nats_url, dead_letter_subject("test-dlq"))
            assert len(dead) == 2
            reasons = [m.headers["Incidents-Dead-Letter-Reason"] for m in dead]
            assert reasons[0].startswith("not JSON")
            assert "unknown event type" in reasons[1]
            assert dead[0].data == b"{not json"
            assert decode_event(good).id == "e-good"
            # The log line says which journey the event was on, though no span was current.
            logged = [r for r in caplog.records if r.getMessage() == "event dead-lettered"]
            assert [getattr(r, "trace_id", None) for r in logged] == [None, TRACE_ID]
        finally:
            await runtime.stop()
            await db.dispose()

    async def test_failing_handler_is_retried_then_dead_lettered(self, nats_url: str, tmp_path: Any) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", [SeenPost])
        await db.create_tables()
        attempts: list[str] = []

        async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
            attempts.append(event.data.post_id)
            if event.data.post_id == "p13":
                raise RuntimeError("downstream exploded")
            session.add(SeenPost(post_id=event.data.post_id))

        spec = ConsumerSpec(
            "test-retry", "POSTS", SUBJECT_POST_COLLECTED, each_event(handle), max_deliver=3, backoff=[0.1, 0.1]
        )
        runtime = EventRuntime(db=db, nats_url=nats_url, client_name="retry", consumers=[spec])
        await runtime.start()
        try:
            async with db.transaction() as session:
                for n in (12, 13, 14):
                    publish(session, _post(n), source="/test")
            assert await eventually(lambda: _count(db), until=lambda n: n == 2)
            dead = await eventually(
                lambda: read_stream(nats_url, dead_letter_subject("test-retry"), timeout=0.3),
                until=lambda msgs: len(msgs) == 1,
            )
            assert "failed 3 times" in dead[0].headers["Incidents-Dead-Letter-Reason"]
            # Each delivery runs the handler in the batch transaction and then alone: 3 deliveries, 6 calls.
            assert attempts.count("p13") == 6
        finally:
            await runtime.stop()
            await db.dispose()


class TestReceivedJson:
    async def test_a_batch_handler_reads_each_event_as_it_arrived(self, nats_url: str, tmp_path: Any) -> None:
        """`writes.received_json(event)` is the JSON document the event arrived as, not a dump of the
        model: a field this release does not know is still there (a handler storing the event keeps
        what a newer producer said) and no model is dumped again."""
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'consumer.db'}", [])
        received: dict[str, dict[str, Any]] = {}
        as_text: dict[str, Any] = {}

        async def handle(writes: Writes, events: list[CloudEvent[Any]]) -> None:
            for event in events:
                received[event.id] = writes.received_json(event)
                as_text[event.id] = writes.received_text(event)

        spec = ConsumerSpec("test-received-json", "POSTS", SUBJECT_POST_COLLECTED, handle)
        runtime = EventRuntime(db=db, nats_url=nats_url, client_name="receiver", consumers=[spec])
        await db.create_tables()
        await runtime.start()
        await asyncio.wait_for(runtime.ready.wait(), 10)
        try:
            assert runtime.js is not None
            event = new_event(_post(1), source="/test")
            document = {**event.model_dump(mode="json", exclude_none=True), "futurefield": {"from": "a newer release"}}
            document["data"]["text"] = "Яма на дороге номер 1"
            message = orjson.dumps(document)
            await runtime.js.publish(SUBJECT_POST_COLLECTED, message)
            assert await eventually(lambda: _len(received), until=lambda n: n == 1)
            assert received[event.id] == document
            # For a JSON column: the message's own text, which the column stores as it is.
            assert isinstance(as_text[event.id], RawJson) and as_text[event.id] == message.decode()
            # Outside a consumer (an event built here), the model is dumped.
            dumped = event.model_dump(mode="json", exclude_none=True)
            assert Writes(AsyncSession()).received_json(event) == Writes(AsyncSession()).received_text(event) == dumped
        finally:
            await runtime.stop()
            await db.dispose()


async def _len(values: dict[str, Any]) -> int:
    return len(values)
