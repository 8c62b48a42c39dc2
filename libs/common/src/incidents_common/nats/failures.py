"""Infrastructure failure or poison message? What says a dependency is down, and the database probe."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import nats.errors
import nats.js.errors
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from incidents_common.db import Database
from incidents_common.events import BadEvent

# SQLite says these when the file is busy or unusable; its other OperationalErrors ("no such table",
# a syntax error) are about the statement, not the database's availability.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def _asyncpg_unavailable() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency of incidents-common
        return ()
    return (
        pg.PostgresConnectionError,  # class 08: connection failure, does not exist, rejected
        pg.CannotConnectNowError,  # 57P03: starting up or shutting down
        pg.AdminShutdownError,  # 57P01: terminated by an administrator (pg_ctl stop, failover)
        pg.CrashShutdownError,  # 57P02
        pg.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
        pg.ReadOnlySQLTransactionError,  # 25006: a standby during a failover
        pg.InvalidAuthorizationSpecificationError,  # class 28: the server refuses our credentials
        pg.TransactionRollbackError,  # class 40: serialization failure, deadlock: retry as is
    )


_ASYNCPG_UNAVAILABLE = _asyncpg_unavailable()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything behind it: __cause__, __context__, a DBAPI error's `orig`, group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack and len(seen) < 50:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        for nested in (current.__cause__, context, getattr(current, "orig", None)):
            if isinstance(nested, BaseException):
                stack.append(nested)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)


def _is_sqlite(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.Error) or "sqlite" in type(orig).__module__


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` says that a dependency (the database, NATS, the network) is unavailable, as
    opposed to a failure caused by the message being handled.

    True when `exc` or anything in its chain (`__cause__`, `__context__`, a SQLAlchemy error's
    `orig`, an exception group's members) is one of:

    - SQLAlchemy: `DBAPIError` whose connection was invalidated (a disconnect), `InterfaceError`,
      `OperationalError` (for SQLite only when it says the file is locked, busy, unreadable or full:
      SQLite also reports "no such table" and syntax errors as OperationalError), a pool timeout
      (`sqlalchemy.exc.TimeoutError`) or `DisconnectionError`;
    - asyncpg: connection errors (SQLSTATE class 08), the server shutting down or starting
      (57P01-57P03), insufficient resources (class 53: too many connections, disk full), a read-only
      transaction (25006: a standby during failover), refused credentials (class 28), serialization
      failures and deadlocks (class 40), and asyncpg's own "connection is closed" interface errors;
    - sqlite3: an `OperationalError` as above;
    - `OSError` (ConnectionError, TimeoutError, socket errors: a refused or reset connection);
    - nats-py: connection closed, no servers, stale connection, reconnecting/draining, outbound
      buffer full, a request timeout, no responders, JetStream unavailable (503).

    `BadEvent` is never an infrastructure failure. The consumer does not trust this function alone:
    before pausing it probes the database and NATS, and a failure that looks like infrastructure
    while both answer is retried a few times and then counted against the message.
    """
    if isinstance(exc, BadEvent):
        return False
    for cause in _causes(exc):
        if isinstance(cause, BadEvent):
            return False
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sa_exc.OperationalError | sqlite3.OperationalError):
            if not _is_sqlite(cause):
                return True
            message = str(getattr(cause, "orig", cause) or cause).lower()
            if any(phrase in message for phrase in _SQLITE_UNAVAILABLE):
                return True
            continue
        if isinstance(cause, sa_exc.InterfaceError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True
        if _ASYNCPG_UNAVAILABLE and isinstance(cause, _ASYNCPG_UNAVAILABLE):
            return True
        if type(cause).__module__.startswith("asyncpg") and type(cause).__name__ == "InterfaceError":
            if "connection" in str(cause).lower() or "closed" in str(cause).lower():
                return True
        if isinstance(cause, OSError):
            return True
        if isinstance(
            cause,
            nats.errors.ConnectionClosedError
            | nats.errors.NoServersError
            | nats.errors.StaleConnectionError
            | nats.errors.ConnectionReconnectingError
            | nats.errors.ConnectionDrainingError
            | nats.errors.OutboundBufferLimitError
            | nats.errors.NoRespondersError
            | nats.js.errors.ServiceUnavailableError
            | nats.js.errors.NoStreamResponseError,
        ):
            return True
    return False


class HandlerTimeout(Exception):
    """The handler did not finish within the consumer's `handler_timeout`."""


async def probe_database(db: Database, timeout: float = 5.0) -> None:
    """Raise unless the database answers: `SELECT 1`; on SQLite, take and release the write lock
    (waiting at most half of `timeout` for it, so that the probe ends before its deadline)."""
    async with db.engine.connect() as connection:
        if not db.is_sqlite:
            await connection.execute(text("SELECT 1"))
            return
        previous = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        await connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(int(timeout * 500), 1)}")
        try:
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.rollback()
        finally:
            await connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")
