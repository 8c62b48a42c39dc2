"""The planner's statistics, gathered as a database grows through the write path. SQLite's are read
by every pooled connection, not only the one that gathered them; without them SQLite took an index
on a column of two values over the one that selects a few rows. PostgreSQL's are gathered per table
before autovacuum would."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import Index, text
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel

from incidents_common.db import SQLITE_FIRST_ANALYZE_ROWS, Database, SqliteStatistics


class Parcel(SQLModel, table=True):
    __tablename__ = "test_statistics_parcel"
    __table_args__ = (
        Index("ix_test_statistics_parcel_state", "state"),
        Index("ix_test_statistics_parcel_owner", "owner"),
    )

    id: int = Field(primary_key=True)
    owner: str = Field(max_length=20)
    state: str = Field(max_length=10)
    note: str | None = None  # no index names it


QUERY = (
    "EXPLAIN QUERY PLAN SELECT id FROM test_statistics_parcel "
    "WHERE owner IN ('o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6', 'o-7', 'o-8') AND state = 'open'"
)


async def plans_of_pooled_connections(db: Database, count: int) -> list[str]:
    """The plan of QUERY on `count` pooled connections checked out at once (so they are distinct)."""
    connections = [await db.engine.connect() for _ in range(count)]
    try:
        plans = []
        for connection in connections:
            rows = (await connection.exec_driver_sql(QUERY)).all()
            plans.append(" / ".join(row[3] for row in rows))
        return plans
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))


async def test_statistics_gathered_as_the_database_grows_reach_every_pooled_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'grow.db'}", [Parcel])
    await db.create_tables()
    try:
        # Three connections open and plan before any statistics exist: nothing tells SQLite that a
        # state selects most rows, and it takes that index.
        assert all("ix_test_statistics_parcel_state" in plan for plan in await plans_of_pooled_connections(db, 3))
        assert db.statistics is not None and db.statistics.generation == 0
        rows = [{"id": n, "owner": f"o-{n}", "state": "open" if n % 10 else "closed"} for n in range(3_000)]
        for start in range(0, len(rows), 500):
            async with db.transaction() as session:
                session.writes.insert(Parcel, rows[start : start + 500])
        assert db.statistics.generation >= 1
        plans = await plans_of_pooled_connections(db, 3)
        assert all("ix_test_statistics_parcel_owner" in plan for plan in plans), plans
    finally:
        await db.dispose()


async def test_migrate_gathers_the_statistics_of_a_database_grown_under_an_earlier_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'earlier.db'}"
    earlier = Database(url, [Parcel])
    await earlier.create_tables()
    async with earlier.engine.begin() as connection:  # written around the write path: nothing counted
        await connection.exec_driver_sql(
            "INSERT INTO test_statistics_parcel (id, owner, state) "
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2999) "
            "SELECT i, 'o-' || i, CASE WHEN i % 10 = 0 THEN 'closed' ELSE 'open' END FROM n"
        )
    await earlier.dispose()
    started = Database(url, [Parcel])
    try:
        await started.migrate()
        assert all("ix_test_statistics_parcel_owner" in plan for plan in await plans_of_pooled_connections(started, 2))
    finally:
        await started.dispose()


def test_statistics_fall_due_each_time_the_rows_written_double() -> None:
    statistics = SqliteStatistics()
    due_at: list[int] = []
    written = 0
    while len(due_at) < 4:
        statistics.written(100)
        written += 100
        if statistics.due:
            due_at.append(written)
            statistics.rows_before += statistics.rows_since  # what gather() does after its ANALYZE
            statistics.rows_since = 0
    first = SQLITE_FIRST_ANALYZE_ROWS
    assert due_at == [first, 2 * first, 4 * first, 8 * first]


async def test_postgresql_analyses_a_table_the_write_path_grows_each_time_its_rows_double(postgres_url: str) -> None:
    # Autovacuum would come within a minute or later; until then a fresh table is planned as if it
    # held a few rows.
    db = Database(postgres_url, [Parcel])
    await db.create_tables()
    try:
        assert db.postgres_statistics is not None and db.statistics is None
        rows = [
            {"id": n, "owner": f"o-{n}", "state": "open" if n % 10 else "closed", "note": f"note {n}"}
            for n in range(3_000)
        ]
        for start in range(0, len(rows), 500):
            async with db.transaction() as session:
                session.writes.insert(Parcel, rows[start : start + 500])
        # Due at 1,000 rows and at 2,000; the next at 4,000.
        assert db.postgres_statistics.gathered == {"test_statistics_parcel": 2}
        async with db.engine.connect() as connection:
            analysed = (
                await connection.exec_driver_sql(
                    "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'test_statistics_parcel'"
                )
            ).scalar_one()
            estimated = (
                await connection.exec_driver_sql(
                    "SELECT reltuples FROM pg_class WHERE relname = 'test_statistics_parcel'"
                )
            ).scalar_one()
        assert analysed is True
        async with db.engine.connect() as connection:
            sampled = (
                await connection.exec_driver_sql(
                    "SELECT attname FROM pg_stats WHERE tablename = 'test_statistics_parcel' ORDER BY attname"
                )
            ).scalars()
            assert list(sampled) == ["id", "owner", "state"]  # the indexed columns, not the note
        assert estimated == 2_000  # what the second ANALYZE counted
    finally:
        await db.dispose()


async def test_postgresql_skips_a_table_another_analyse_holds_rather_than_wait(
    postgres_url: str, postgres_libpq_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(postgres_url, [Parcel])
    await db.create_tables()
    database = make_url(postgres_url).database
    holder = await asyncpg.connect(postgres_libpq_url, database=database)
    try:
        assert db.postgres_statistics is not None
        # The lock autovacuum's ANALYZE takes, held by someone else until after the batch.
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE test_statistics_parcel IN SHARE UPDATE EXCLUSIVE MODE")
        rows = [{"id": n, "owner": f"o-{n}", "state": "open"} for n in range(SQLITE_FIRST_ANALYZE_ROWS)]
        with caplog.at_level(logging.INFO, logger="incidents.db"):
            async with db.transaction() as session:  # the batch that makes the table due
                session.writes.insert(Parcel, rows)
        assert db.postgres_statistics.gathered["test_statistics_parcel"] == 0
        assert "statistics skipped" in caplog.text
        async with db.transaction() as session:  # committed, and the database still answers
            assert (await session.exec(text("SELECT count(*) FROM test_statistics_parcel"))).scalar_one() == len(rows)  # type: ignore[call-overload]
        await transaction.rollback()
    finally:
        await holder.close()
        await db.dispose()
