"""Benchmark of the shared event machinery: outbox relay → JetStream → inbox-backed consumer.

Starts its own nats-server on 127.0.0.1, writes N PostCollected events into an outbox (SQLite or
PostgreSQL), and measures how fast the relay publishes them and a consumer applies them.

    python bench/events.py [--events 20000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Field, SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from tqdm import tqdm

from incidents_common.db import Database, enqueue
from incidents_common.events import SUBJECT_POST_COLLECTED, CloudEvent, PostCollected, SourceType, new_event
from incidents_common.nats import ConsumerSpec, EventRuntime, each_event
from incidents_common.processes import NatsServer, asyncpg_url, postgres_server


class BenchRow(SQLModel, table=True):
    __tablename__ = "bench_row"
    id: int | None = Field(default=None, primary_key=True)
    post_id: str


async def count(db: Database) -> int:
    async with db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(BenchRow))).one()


async def run(events: int, database_url: str, nats_url: str) -> None:
    producer_db = Database(database_url, [])
    consumer_db = Database(database_url.replace("producer", "consumer"), [BenchRow])
    for db in (producer_db, consumer_db):
        await db.drop_tables()
        await db.create_tables()

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        session.add(BenchRow(post_id=event.data.post_id))

    now = datetime.now(UTC)
    started = time.perf_counter()
    async with producer_db.transaction() as session:
        for n in range(events):
            data = PostCollected(
                post_id=f"p{n}", source_type=SourceType.push, external_id=str(n),
                text="Во дворе на Ленина 5 третий день не вывозят мусор, контейнеры переполнены",
                published_at=now, collected_at=now,
            )  # fmt: skip
            enqueue(session, new_event(data, source="/bench"))
    written = time.perf_counter() - started
    print(f"outbox write: {events} events in {written:.2f}s = {events / written:,.0f} events/s")

    producer = EventRuntime(db=producer_db, nats_url=nats_url, client_name="bench-producer")
    spec = ConsumerSpec("bench-consumer", "POSTS", SUBJECT_POST_COLLECTED, each_event(handle), batch=200)
    consumer = EventRuntime(db=consumer_db, nats_url=nats_url, client_name="bench-consumer", consumers=[spec])
    started = time.perf_counter()
    await producer.start()
    await consumer.start()
    done = 0
    published_at: float | None = None
    with tqdm(total=events, desc="consumed", unit="ev") as bar:
        while done < events:
            await asyncio.sleep(0.2)
            current = await count(consumer_db)
            bar.update(current - done)
            done = current
            if published_at is None and producer.relay.published >= events:
                published_at = time.perf_counter() - started
    total = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    if published_at:
        print(f"relay publish: {events} events in {published_at:.2f}s = {events / published_at:,.0f} events/s")
    print(f"end to end (outbox → JetStream → consumer + inbox): {events / total:,.0f} events/s")
    await producer_db.dispose()
    await consumer_db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nats = NatsServer(Path(tmp) / "js").start()
        try:
            if args.database == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp}/producer.db"
                asyncio.run(run(args.events, url, nats.url))
            else:
                with postgres_server(Path(tmp) / "pg") as libpq:
                    import asyncpg  # type: ignore[import-untyped]

                    async def create() -> None:
                        conn = await asyncpg.connect(libpq)
                        for name in ("producer", "consumer"):
                            await conn.execute(f"CREATE DATABASE {name}")
                        await conn.close()

                    asyncio.run(create())
                    asyncio.run(run(args.events, asyncpg_url(libpq, "producer"), nats.url))
        finally:
            nats.stop()


if __name__ == "__main__":
    main()
