from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from sqlmodel import func, select

from classifier.config import Settings
from classifier.consumers import ClassifyCollected
from classifier.main import create_app
from classifier.model import PostInput
from classifier.models import TABLES, ClassificationRecord
from classifier.service import stored_versions
from incidents_common.db import Database, InboxMessage, OutboxMessage, publish
from incidents_common.events import (
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_POST_COLLECTED,
    SUBJECT_POST_NOISE,
    PlaceHints,
    PostCollected,
    SourceType,
    dead_letter_subject,
    decode_event,
    encode_event,
    new_event,
)
from incidents_common.nats import EventRuntime
from incidents_common.testing import ServiceAuth, eventually, read_stream, rows_read_in_transaction


def collected(n: int, text: str, title: str | None = None) -> PostCollected:
    now = datetime.now(UTC)
    return PostCollected(
        post_id=f"post-{n}",
        source_type=SourceType.vk,
        external_id=str(n),
        text=text,
        published_at=now,
        collected_at=now,
        place_hints=PlaceHints(title=title),
    )


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(ClassificationRecord))).one())


async def classified_on_stream(nats_url: str) -> int:
    """PostClassified events on the stream: complaints' (post.classified) and chatter's (post.noise)."""
    complaints = await read_stream(nats_url, SUBJECT_POST_CLASSIFIED, timeout=0.3)
    return len(complaints) + len(await read_stream(nats_url, SUBJECT_POST_NOISE, timeout=0.3))


class TestPostCollectedConsumer:
    async def test_collected_in_classified_out(self, nats_url: str, database_url: str, tmp_path: Path) -> None:
        app = create_app(Settings(database_url=database_url, nats_url=nats_url, log_json=False))
        producer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'producer.db'}", [])
        await producer_db.create_tables()
        producer = EventRuntime(db=producer_db, nats_url=nats_url, client_name="test-collector")
        async with app.router.lifespan_context(app):
            await producer.start()
            try:
                async with producer_db.transaction() as session:
                    first = [
                        publish(
                            session,
                            collected(1, "В подъезде сильно пахнет газом!!! Звонили в 04", "Подслушано Тольятти"),
                            source="/test",
                        ),
                        publish(session, collected(2, "Продам гараж недорого, звоните"), source="/test"),
                    ]
                first_ids = {event.id for event in first}
                db = app.state.db
                await eventually(lambda: count(db), until=lambda n: n == 2)
                # The complaint on post.classified, for routing; the advert on post.noise, which nothing
                # of ours consumes.
                messages = await eventually(
                    lambda: read_stream(nats_url, SUBJECT_POST_CLASSIFIED, timeout=0.3), until=lambda m: len(m) == 1
                )
                chatter = await eventually(
                    lambda: read_stream(nats_url, SUBJECT_POST_NOISE, timeout=0.3), until=lambda m: len(m) == 1
                )
                events = {e.data.post_id: e.data for e in (decode_event(m.data) for m in messages + chatter)}
                assert decode_event(messages[0].data).data.post_id == "post-1"
                assert decode_event(chatter[0].data).data.post_id == "post-2"
                gas = events["post-1"]
                assert gas.classification.is_incident
                assert gas.classification.urgency.label == "critical"
                assert gas.classification.region.code == "63"
                assert gas.text.startswith("В подъезде") and gas.place_hints.title == "Подслушано Тольятти"
                assert not events["post-2"].classification.is_incident
                consumer = app.state.events.consumers[0]
                assert isinstance(consumer.spec.handler, ClassifyCollected)
                assert consumer.stats.processed == 2
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://t", auth=ServiceAuth("classifier")
                ) as http:
                    stored = (await http.get("/v1/classifications/post-1")).json()
                assert stored["classification"]["urgency"]["label"] == "critical"

                # The same post version again, as a new event (a re-published post): stored and published once.
                async with producer_db.transaction() as session:
                    again = publish(
                        session, collected(1, "В подъезде сильно пахнет газом!!! Звонили в 04"), source="/test"
                    )
                # The signal that the consumer handled it: the event's inbox row, committed with whatever
                # it wrote and queued. Then: it found the version stored, so nothing was written, and once
                # the outbox is empty everything queued is on the stream: still the two events.
                durable = consumer.spec.durable
                await eventually(lambda: inbox(db, durable), until=lambda ids: again.id in ids)
                assert await count(db) == 2
                await eventually(lambda: outbox(db), until=lambda n: n == 0)
                assert await classified_on_stream(nats_url) == 2
                assert await eventually(lambda: _processed(consumer), until=lambda n: n >= 3) == 3

                # The very same event again, past JetStream's duplicate window (another Nats-Msg-Id):
                # the inbox knows its id. Wait for the consumer's duplicate count, then nothing changed.
                assert producer.js is not None
                await producer.js.publish(
                    SUBJECT_POST_COLLECTED, encode_event(again), headers={"Nats-Msg-Id": uuid.uuid4().hex}
                )
                await eventually(lambda: _duplicates(consumer), until=lambda n: n >= 1)
                assert (consumer.stats.duplicates, consumer.stats.processed) == (1, 3)
                assert sorted(await inbox(db, durable)) == sorted({*first_ids, again.id})
                assert await count(db) == 2 and await outbox(db) == 0
                assert await classified_on_stream(nats_url) == 2
            finally:
                await producer.stop()
                await producer_db.dispose()

    async def test_bad_event_is_dead_lettered(self, nats_url: str, tmp_path: Path) -> None:
        app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_url=nats_url))
        async with app.router.lifespan_context(app):
            runtime = app.state.events
            await asyncio.wait_for(runtime.ready.wait(), 10)
            await runtime.js.publish(SUBJECT_POST_COLLECTED, b"{broken")
            bad_payload = {
                "specversion": "1.0",
                "id": "e-bad",
                "source": "/test",
                "type": "ru.incidents.post.collected",
                "time": datetime.now(UTC).isoformat(),
                "data": {"post_id": "p", "text": "нет source_type и дат"},
            }
            await runtime.js.publish(SUBJECT_POST_COLLECTED, orjson.dumps(bad_payload))
            async with app.state.db.transaction() as session:
                publish(session, collected(3, "На Ленина огромная яма, пробил колесо"), source="/test")
            await eventually(lambda: count(app.state.db), until=lambda n: n == 1)
            dead = await eventually(
                lambda: read_stream(nats_url, dead_letter_subject("classifier-post-collected"), timeout=0.3),
                until=lambda m: len(m) == 2,
            )
            reasons = [m.headers["Incidents-Dead-Letter-Reason"] for m in dead]
            assert reasons[0].startswith("not JSON")
            assert "invalid PostCollected" in reasons[1]


async def _processed(consumer: Any) -> int:
    return int(consumer.stats.processed)


async def _duplicates(consumer: Any) -> int:
    return int(consumer.stats.duplicates)


async def inbox(db: Database, consumer: str) -> list[str]:
    """The ids of the events `consumer` has processed (its inbox rows)."""
    async with db.transaction() as session:
        rows = await session.exec(select(InboxMessage.event_id).where(InboxMessage.consumer == consumer))
        return list(rows.all())


async def outbox(db: Database) -> int:
    """Events queued and not yet published."""
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())


class TestHandler:
    async def test_a_batch_is_classified_in_one_call_and_stored_versions_are_skipped(
        self, tmp_path: Path, classifier: Any
    ) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", [ClassificationRecord])
        await db.create_tables()
        calls: list[int] = []

        def counting() -> Any:
            class Counting:
                def classify_batch(self, inputs: list[PostInput]) -> Any:
                    calls.append(len(inputs))
                    return classifier.classify_batch(inputs)

            return Counting()

        handler = ClassifyCollected(classifier=counting)
        texts = ["Во дворе прорвало трубу, течёт кипяток", "Продам гараж", "Яма на Ленина, пробил колесо"]
        events = [new_event(collected(n, text), source="/test") for n, text in enumerate(texts)]
        async with db.transaction() as session:
            await handler(session.writes, events)
        assert calls == [3] and await count(db) == 3
        # The same versions again plus one new post: only the new one is classified and stored.
        again = [new_event(collected(n, text), source="/test") for n, text in enumerate(texts)]
        again.append(new_event(collected(9, "Нет света в доме 5"), source="/test"))
        async with db.transaction() as session:
            await handler(session.writes, again)
            assert session.writes.events_queued == 1
        assert calls == [3, 1] and await count(db) == 4
        await db.dispose()


class TestStoredVersions:
    """The look-up that keeps a redelivered post from being classified twice, once per batch."""

    @staticmethod
    def row(post_id: str, version: int) -> dict[str, Any]:
        return {
            "post_id": post_id,
            "version": version,
            "model_version": "m",
            "is_incident": False,
            "category": "other",
            "urgency": "normal",
            "sentiment": "neutral",
            "text": "текст",
            "result": {},
            "created_at": datetime.now(UTC),
        }

    async def test_it_names_exactly_the_stored_versions(self, database_url: str) -> None:
        db = Database(database_url, TABLES)
        await db.create_tables()
        async with db.transaction() as session:
            session.writes.insert(ClassificationRecord, [self.row("a", 1), self.row("a", 2), self.row("b", 1)])
        async with db.transaction() as session:
            found = await stored_versions(session, [("a", 2), ("a", 3), ("b", 1), ("b", 1), ("c", 1)])
        assert found == {("a", 2), ("b", 1)}
        await db.dispose()

    async def test_on_postgresql_it_reads_only_the_rows_it_looks_up(self, postgres_url: str) -> None:
        # Statistics taken while the table was empty, then a stream's worth of rows: the state in which
        # `post_id IN (…)` was planned as a scan of the whole table, every batch.
        db = Database(postgres_url, TABLES)
        await db.create_tables()
        async with db.transaction() as session:
            await session.exec(text("ANALYZE classifications"))  # type: ignore[call-overload]
        async with db.transaction() as session:
            session.writes.insert(ClassificationRecord, [self.row(f"p{n}", 1) for n in range(5000)])
        async with db.transaction() as session:
            found = await stored_versions(session, [(f"p{n}", 1) for n in range(0, 5000, 250)] + [("new", 1)])
            read = await rows_read_in_transaction(session, "classifications")
        assert found == {(f"p{n}", 1) for n in range(0, 5000, 250)}
        assert read <= 40, f"{read} rows read to look up 21 keys"
        await db.dispose()
