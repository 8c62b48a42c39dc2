"""UTCDateTime, the one column type for instants: what goes in aware (any zone) or naive UTC comes back
aware UTC and the same instant, on SQLite and on PostgreSQL, through the ORM and through bulk writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Column
from sqlmodel import Field, SQLModel, select

from incidents_common.db import Database, UTCDateTime, as_utc, writes_of


class Stamp(SQLModel, table=True):
    __tablename__ = "test_timestamps_stamp"

    id: str = Field(primary_key=True, max_length=20)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    maybe: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


@pytest.fixture
async def db(database_url: str) -> Any:
    database = Database(database_url, [Stamp])
    await database.create_tables()
    yield database
    await database.dispose()


SAMARA = timezone(timedelta(hours=4))


async def test_instants_come_back_aware_utc_and_equal(db: Database) -> None:
    moments = {
        "aware-utc": datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
        "aware-samara": datetime(2026, 12, 4, 13, 30, tzinfo=SAMARA),  # the same instant as 09:30 UTC
        "naive-utc": datetime(2026, 12, 4, 9, 30),  # noqa: DTZ001 - naive on purpose: taken to be UTC
    }
    async with db.transaction() as session:
        for key, moment in moments.items():
            session.add(Stamp(id=key, at=moment))
        writes_of(session).insert(Stamp, [{"id": "bulk", "at": datetime(2026, 12, 4, 13, 30, tzinfo=SAMARA)}])
    async with db.transaction() as session:
        rows = {row.id: row for row in (await session.exec(select(Stamp))).all()}
    expected = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    for key in (*moments, "bulk"):
        assert rows[key].at == expected, key
        assert rows[key].at.utcoffset() == timedelta(0), key
        assert rows[key].maybe is None
    # Comparisons in SQL see the same instant whatever zone it was written in.
    async with db.transaction() as session:
        later = (await session.exec(select(Stamp).where(Stamp.at > expected - timedelta(minutes=1)))).all()  # type: ignore[arg-type]  # the column expression is typed as the Python value
    assert len(later) == 4


def test_as_utc() -> None:
    assert as_utc(datetime(2026, 1, 1, 3, 0, tzinfo=SAMARA)) == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert as_utc(datetime(2026, 1, 1, 3, 0)).tzinfo is UTC  # noqa: DTZ001 - naive on purpose
