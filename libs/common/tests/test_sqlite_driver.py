"""SQLite's statements take one trip each to aiosqlite's thread (incidents_common.sqlite_driver), and
the engine behaves as with SQLAlchemy's own adapter: rows, row counts, ids, errors, transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, SQLModel, select

from incidents_common.db import Database
from incidents_common.sqlite_driver import OneTripCursor


class Lamp(SQLModel, table=True):
    __tablename__ = "test_sqlite_driver_lamp"

    id: int | None = Field(default=None, primary_key=True)
    street: str = Field(max_length=50, unique=True)
    broken: bool = False


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/lamps.db", [Lamp])
    await database.create_tables()
    yield database
    await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls run on aiosqlite's thread, by name, from now on."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


async def test_the_engine_uses_the_one_trip_cursor(db: Database) -> None:
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]


async def test_a_query_and_an_executemany_take_one_trip_each(db: Database, trips: list[str]) -> None:
    async with db.transaction() as session:
        connection = await session.connection()
        trips.clear()
        await connection.exec_driver_sql(
            "INSERT INTO test_sqlite_driver_lamp (street, broken) VALUES (?, ?)",
            [("Ленина", True), ("Мира", False), ("Садовая", True)],
        )
        assert trips == ["_run_statement"]
        trips.clear()
        rows = (await session.exec(select(Lamp.street).where(Lamp.broken).order_by(Lamp.street))).all()
        assert trips == ["_run_statement"]
    assert rows == ["Ленина", "Садовая"]


async def test_rows_counts_and_ids_are_what_sqlite_reports(db: Database) -> None:
    async with db.transaction() as session:
        first = Lamp(street="Ленина")
        session.add(first)
        await session.flush()
        assert first.id == 1  # lastrowid, through the ORM
        connection = await session.connection()
        inserted = await connection.exec_driver_sql(
            "INSERT INTO test_sqlite_driver_lamp (street, broken) VALUES (?, 0)", [("Мира",), ("Садовая",)]
        )
        assert inserted.rowcount == 2
        updated = await connection.execute(text("UPDATE test_sqlite_driver_lamp SET broken = 1 WHERE id > 1"))
        assert updated.rowcount == 2
        result = await connection.execute(text("SELECT id, street, broken FROM test_sqlite_driver_lamp ORDER BY id"))
        assert list(result.keys()) == ["id", "street", "broken"]
        assert [tuple(row) for row in result] == [(1, "Ленина", 0), (2, "Мира", 1), (3, "Садовая", 1)]
        # A statement that returns no rows leaves an empty result, not the previous one's rows.
        empty = await connection.execute(text("SELECT id FROM test_sqlite_driver_lamp WHERE id > 99"))
        assert empty.all() == []


async def test_errors_are_sqlalchemy_errors_and_the_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(IntegrityError, match="UNIQUE"):
        async with db.transaction() as session:
            session.add(Lamp(street="Ленина"))
            await session.flush()
            connection = await session.connection()
            await connection.exec_driver_sql(
                "INSERT INTO test_sqlite_driver_lamp (street, broken) VALUES (?, 0)", ("Ленина",)
            )
    with pytest.raises(OperationalError, match="no such table"):
        async with db.transaction() as session:
            await (await session.connection()).execute(text("SELECT * FROM no_such_table"))
    async with db.transaction() as session:
        assert (await session.exec(select(Lamp))).all() == []  # the first block's row rolled back with it
        session.add(Lamp(street="Мира"))
    async with db.transaction() as session:
        assert [lamp.street for lamp in (await session.exec(select(Lamp))).all()] == ["Мира"]
