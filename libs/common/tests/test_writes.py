"""The batch contract's write side: `Writes` queues rows and events, writes one statement per table
and kind before the commit, and nothing of it survives a rollback. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import JSON, Column, LargeBinary, func, text
from sqlalchemy import event as sa_event
from sqlmodel import Field, SQLModel, select

from incidents_common.db import (
    Database,
    InboxMessage,
    OutboxMessage,
    RawJson,
    UTCDateTime,
    already_processed,
    writes_of,
)
from incidents_common.events import PostCollected, SourceType, decode_event
from incidents_common.testing import post_collected, rows_read_in_transaction
from incidents_common.tracing import batch_spans, use_tracer_provider


class Gadget(SQLModel, table=True):
    __tablename__ = "test_writes_gadget"

    id: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=50)
    size: int = 0


class Reading(SQLModel, table=True):
    """Every kind of column the services' tables hold: the bulk path must write each as the ORM would."""

    __tablename__ = "test_writes_reading"

    id: str = Field(primary_key=True, max_length=20)
    taken_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value: float | None = None
    ok: bool = False
    count: int = 7
    note: str | None = None


class GadgetLog(SQLModel, table=True):
    __tablename__ = "test_writes_log"

    id: int | None = Field(default=None, primary_key=True)
    gadget_id: str = Field(max_length=20)
    note: str = Field(max_length=50)


@pytest.fixture
async def db(database_url: str) -> Any:
    database = Database(database_url, [Gadget, GadgetLog, Reading])
    await database.create_tables()
    yield database
    await database.drop_tables()
    await database.dispose()


class StatementCounter:
    """Counts the statements sent to the database (an executemany counts once)."""

    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        sa_event.listen(database.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement.split()[0].upper())


async def gadgets(database: Database) -> dict[str, tuple[str, int]]:
    async with database.transaction() as session:
        rows = (await session.exec(select(Gadget))).all()
    return {g.id: (g.name, g.size) for g in rows}


def post(n: int) -> PostCollected:
    from datetime import datetime

    return post_collected(
        f"p{n}", "яма", source_type=SourceType.push, external_id=str(n), published_at=datetime.now(UTC)
    )


async def test_each_table_and_kind_is_one_statement(db: Database) -> None:
    counter = StatementCounter(db)
    async with db.transaction() as session:
        writes = writes_of(session)
        writes.insert(Gadget, [{"id": f"g{n}", "name": "new", "size": n} for n in range(50)])
        writes.insert(GadgetLog, [{"gadget_id": f"g{n}", "note": "made"} for n in range(50)])
        for n in range(20):
            writes.publish(post(n), source="/test")
        counter.statements.clear()
    # Three INSERTs (gadgets, log, outbox) and the commit; no statement per row.
    assert counter.statements.count("INSERT") == 3
    assert len(await gadgets(db)) == 50
    async with db.transaction() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    assert len(outbox) == 20 and {decode_event(o.payload).data.post_id for o in outbox} == {f"p{n}" for n in range(20)}


async def test_upsert_inserts_updates_and_the_last_row_per_key_wins(db: Database) -> None:
    async with db.transaction() as session:
        session.writes.insert(Gadget, [{"id": "a", "name": "one", "size": 1}, {"id": "b", "name": "two", "size": 2}])
    async with db.transaction() as session:
        session.writes.upsert(
            Gadget,
            [
                {"id": "a", "name": "first", "size": 10},
                {"id": "c", "name": "new", "size": 3},
                {"id": "a", "name": "last", "size": 11},
            ],
        )
        session.writes.upsert(Gadget, {"id": "b", "name": "ignored", "size": 20}, update=["size"])
    assert await gadgets(db) == {"a": ("last", 11), "b": ("two", 20), "c": ("new", 3)}


async def test_update_and_insert_ignoring_conflicts(db: Database) -> None:
    async with db.transaction() as session:
        session.writes.insert(Gadget, [{"id": "a", "name": "one", "size": 1}, {"id": "b", "name": "two", "size": 2}])
    async with db.transaction() as session:
        session.writes.update(Gadget, [{"id": "a", "size": 5}, {"id": "b", "name": "renamed"}])
        session.writes.insert(
            Gadget, [{"id": "a", "name": "dup", "size": 0}, {"id": "z", "name": "z"}], ignore_conflicts=True
        )
    assert await gadgets(db) == {"a": ("one", 5), "b": ("renamed", 2), "z": ("z", 0)}


async def test_a_rollback_writes_nothing_and_counts_nothing(db: Database) -> None:
    called: list[str] = []
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            session.writes.insert(Gadget, {"id": "x", "name": "x"})
            session.writes.publish(post(1), source="/test")
            session.writes.after_commit(lambda: called.append("after"))
            raise RuntimeError("the handler failed")
    assert await gadgets(db) == {} and called == []
    async with db.transaction() as session:
        session.writes.after_commit(lambda: called.append("after"))
        assert (await session.exec(select(OutboxMessage))).all() == []
    assert called == ["after"]


async def test_flush_lets_a_read_in_the_same_transaction_see_the_rows(db: Database) -> None:
    async with db.transaction() as session:
        session.writes.insert(Gadget, {"id": "r", "name": "read me"})
        assert (await session.exec(select(Gadget))).all() == []
        await session.writes.flush()
        assert [g.id for g in (await session.exec(select(Gadget))).all()] == ["r"]
        assert session.writes.pending == 0


PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _published_for_a_cause(db: Database, provider: TracerProvider) -> str:
    from incidents_common.events import new_event

    cause = new_event(post(1), source="/test", traceparent=PARENT)
    async with db.transaction() as session:
        with use_tracer_provider(provider), batch_spans([(cause.id, "test handles", cause.traceparent)]) as parents:
            session.writes.traceparents = parents
            published = session.writes.publish(post(2), source="/test", cause=cause)
    assert published.traceparent is not None
    return published.traceparent


async def test_an_event_published_for_a_cause_is_a_child_of_the_causes_handling(db: Database) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traceparent = await _published_for_a_cause(db, provider)
    (handling,) = exporter.get_finished_spans()
    assert handling.parent is not None and f"{handling.parent.span_id:016x}" == "b7ad6b7169203331"
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"  # the same trace
    assert traceparent.split("-")[2] == f"{handling.context.span_id:016x}"  # a child of the handling span


async def test_with_nobody_listening_no_span_is_made_and_the_trace_still_continues(db: Database) -> None:
    assert await _published_for_a_cause(db, TracerProvider()) == PARENT


async def test_a_session_not_from_a_transaction_has_no_writes(db: Database) -> None:
    from sqlmodel.ext.asyncio.session import AsyncSession

    async with AsyncSession(db.engine) as session:
        with pytest.raises(TypeError, match="no Writes"):
            writes_of(session)


async def test_an_event_queued_in_json_form_is_the_event_publish_would_write(db: Database) -> None:
    from incidents_common.events import new_event

    cause = new_event(post(1), source="/test", traceparent=PARENT)
    async with db.transaction() as session:
        session.writes.traceparents = {cause.id: PARENT}
        second = post(2)
        data = second.model_dump(mode="json", exclude_none=True)
        event_id = session.writes.publish_json(PostCollected, data, source="/test", origin_post_id="p2", cause=cause)
    async with db.transaction() as session:
        (row,) = (await session.exec(select(OutboxMessage))).all()
    event = decode_event(row.payload)
    assert (row.event_id, event.id) == (event_id, event_id)
    assert row.subject == "incidents.v1.post.collected"
    assert event.data == second
    assert (event.source, event.originpostid, event.traceparent) == ("/test", "p2", PARENT)


async def test_a_snapshot_reads_one_state_while_another_writer_commits(db: Database) -> None:
    async with db.transaction() as session:
        writes_of(session).insert(Gadget, [{"id": "g1", "name": "first", "size": 1}])

    async def read_twice(snapshot: bool, size: int) -> tuple[int, int]:
        async with db.transaction(snapshot=snapshot) as reader:
            before = (await reader.exec(select(Gadget.size))).one()
            async with db.transaction() as writer:
                writes_of(writer).update(Gadget, [{"id": "g1", "size": size}])
            after = (await reader.exec(select(Gadget.size))).one()
        return before, after

    # Each SELECT on its own sees the other writer's commit: the state a page would mix.
    assert await read_twice(snapshot=False, size=2) == (1, 2)
    assert await read_twice(snapshot=True, size=3) == (2, 2)
    assert await gadgets(db) == {"g1": ("first", 3)}


async def test_every_kind_of_column_is_written_as_the_orm_writes_it(db: Database) -> None:
    """On PostgreSQL rows go as one array per column (unnest); on SQLite as an executemany. Either way
    a datetime comes back in UTC, JSON (None as JSON null), bytes, floats,
    booleans, and a column a row leaves out gets its default, on insert only: an upsert that leaves it
    out keeps the stored value."""
    moscow = timezone(timedelta(hours=3))
    taken = datetime(2026, 12, 4, 15, 30, tzinfo=moscow)
    async with db.transaction() as session:
        session.writes.insert(
            Reading,
            [
                {"id": "a", "taken_at": taken, "detail": {"ключ": [1, "два"]}, "payload": b"\x00\xff", "value": 1.5},
                {"id": "b", "taken_at": taken, "detail": None, "payload": b"", "value": None, "ok": True},
            ],
        )
    async with db.transaction() as session:
        session.writes.upsert(Reading, [{"id": "a", "taken_at": taken, "payload": b"new", "count": 9}])
        session.writes.upsert(Reading, [{"id": "c", "taken_at": taken, "payload": b"c", "note": "новая"}])
    async with db.transaction() as session:
        rows = {r.id: r for r in (await session.exec(select(Reading))).all()}
        json_nulls = (await session.exec(select(func.count()).select_from(Reading).where(text("detail IS NULL")))).one()
    assert rows["a"].taken_at == taken and rows["a"].taken_at.utcoffset() == timedelta(0)
    assert rows["a"].detail == {"ключ": [1, "два"]} and rows["a"].payload == b"new" and rows["a"].value == 1.5
    assert (rows["a"].ok, rows["a"].count) == (False, 9)
    assert rows["b"].detail is None and rows["b"].payload == b"" and rows["b"].value is None and rows["b"].ok
    assert (rows["c"].count, rows["c"].ok, rows["c"].note) == (7, False, "новая")
    # None stated for a JSON column is JSON null (SQLAlchemy's default); a column left out is SQL NULL.
    assert json_nulls == 1


async def test_the_bulk_path_stores_exactly_what_the_orm_stores(db: Database) -> None:
    """The same values through the ORM and through Writes are stored alike (on SQLite, the same text for
    a datetime and a JSON document), so that SQL comparing rows of the two paths stays right."""
    taken = datetime(2026, 12, 4, 15, 30, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    detail = {"ключ": [1, "два"], "n": None}
    async with db.transaction() as session:
        session.add(Reading(id="orm", taken_at=taken, detail=detail, payload=b"\x01", value=2.5, ok=True))
        session.writes.insert(
            Reading, {"id": "bulk", "taken_at": taken, "detail": detail, "payload": b"\x01", "value": 2.5, "ok": True}
        )
    async with db.transaction() as session:
        stored = (
            await session.exec(
                text(
                    "SELECT id, taken_at, detail, payload, value, ok, count, note FROM test_writes_reading ORDER BY id"
                )
            )
        ).all()
    by_id = {row[0]: tuple(row[1:]) for row in stored}
    assert by_id["bulk"] == by_id["orm"]


async def test_json_text_already_serialized_is_stored_as_it_is(db: Database) -> None:
    """A consumer stores an event as it arrived (RawJson), with no parse and dump in between: the
    column holds that text, read back as the document it says."""
    as_received = '{"b":1,"a":["два",null],"z":{"c":2.5}}'
    taken = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    async with db.transaction() as session:
        session.writes.insert(Reading, {"id": "raw", "taken_at": taken, "detail": RawJson(as_received), "payload": b""})
    async with db.transaction() as session:
        stored = (await session.exec(select(Reading))).one()
        as_text = (await session.exec(text("SELECT CAST(detail AS TEXT) FROM test_writes_reading"))).one()[0]
    assert stored.detail == {"b": 1, "a": ["два", None], "z": {"c": 2.5}}
    assert as_text == as_received


async def test_an_upsert_does_not_reset_what_its_rows_leave_out(db: Database) -> None:
    async with db.transaction() as session:
        session.writes.insert(Gadget, {"id": "a", "name": "one", "size": 5})
    async with db.transaction() as session:
        session.writes.upsert(Gadget, {"id": "a", "name": "renamed"})
    assert await gadgets(db) == {"a": ("renamed", 5)}


async def test_the_inbox_look_up_reads_only_the_ids_it_looks_up_on_postgresql(postgres_url: str) -> None:
    """Statistics taken while the inbox was empty, then a stream's worth of rows: the state in which
    `consumer = … AND event_id IN (…)` was planned as a scan of the consumer's whole inbox, every batch."""
    database = Database(postgres_url, [])
    await database.create_tables()
    try:
        async with database.transaction() as session:
            await session.exec(text("ANALYZE inbox"))  # type: ignore[call-overload]
        async with database.transaction() as session:
            processed_at = datetime.now(UTC)
            rows = [{"consumer": "c", "event_id": f"e{n}", "processed_at": processed_at} for n in range(5000)]
            session.writes.insert(InboxMessage, rows)
        wanted = [f"e{n}" for n in range(0, 5000, 250)] + ["new"]
        async with database.transaction() as session:
            found = await already_processed(session, "c", wanted)
            read = await rows_read_in_transaction(session, "inbox")
        assert found == set(wanted) - {"new"}
        assert read <= 40, f"{read} rows read to look up {len(wanted)} ids"
    finally:
        await database.dispose()
