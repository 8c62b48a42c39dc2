"""PostgreSQL connections the server closed are replaced at checkout, without a round trip to ask.

The pool used to ping the server before every checkout (with asyncpg a BEGIN, an empty statement and
a ROLLBACK). It now asks the driver whether the socket is still open."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from incidents_common.db import Database
from incidents_common.testing import eventually


async def test_a_connection_the_server_closed_is_replaced(postgres_url: str, postgres_libpq_url: str) -> None:
    db = Database(postgres_url, [])
    try:
        async with db.transaction() as session:
            first = (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore[call-overload]
        admin = await asyncpg.connect(postgres_libpq_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first) is True
            await eventually(
                lambda: admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first),
                until=lambda count: count == 0,
            )
        finally:
            await admin.close()
        for _ in range(3):  # let the event loop read the closed socket
            await asyncio.sleep(0)
        async with db.transaction() as session:
            second = (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore[call-overload]
        assert second != first
        assert not db.engine.pool._pre_ping  # noqa: SLF001 - no round trip before each checkout
    finally:
        await db.dispose()
