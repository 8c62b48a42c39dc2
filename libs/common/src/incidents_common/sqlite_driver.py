"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own, and SQLAlchemy's adapter of it awaits
that thread once for each DB-API call: a new cursor, execute, fetchall, close. Each trip is a queue
put, a wake-up of the thread and a wake-up of the event loop through its self-pipe, and costs far
more than the small statements a consumer's batch runs (tens of microseconds each, on both threads).
This adapter runs the whole statement (cursor, execute, fetch every row, close) in one trip.

It changes nothing else: the same sqlite3 connection and transaction, the same errors, the same
rows; server-side cursors (`stream()`) keep SQLAlchemy's own. `Database` passes it to the engine
as the DB-API module of SQLAlchemy's aiosqlite dialect (`create_async_engine(..., module=...)`).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import await_only

# What one trip brings back: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, Sequence[Any], int, int | None]


def _run_statement(connection: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """On aiosqlite's thread: the statement, start to finish, on a cursor of its own."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose execute and executemany each take one trip to aiosqlite's thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor: each statement opens and closes its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the base class always holds a driver cursor
        self._soft_closed_memoized = {}  # type: ignore[assignment]  # the base's frozen empty dict, as a plain one
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before any insert, as sqlite3's

    async def _async_soft_close(self) -> None:
        """Nothing to close: the rows are already here and the thread's cursor is closed."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(False, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(True, operation, seq_of_parameters)

    def _run(self, many: bool, operation: str, parameters: Any) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]  # typed as any async DB-API
        try:
            outcome: _Outcome = await_only(
                # aiosqlite's one way onto its thread (SQLAlchemy's adapter uses its queue too).
                connection._execute(_run_statement, connection._conn, many, operation, parameters)  # type: ignore[no-untyped-call]  # noqa: SLF001
            )
        except Exception as error:  # noqa: BLE001 - translated as SQLAlchemy's adapter translates it
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass of the adapter's cursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DB-API shim, handing out `OneTripConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        adapted.__class__ = OneTripConnection  # same slots: only the cursor class differs
        return adapted


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
