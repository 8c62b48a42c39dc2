"""Outbox (and bookkeeping) writes in one statement per transaction.

`incidents_common.db.publish` adds one ORM row per event; its autoincrement key makes SQLAlchemy
insert those rows one by one (a round trip each, ~1 ms through aiosqlite), which dominated a
consumer batch. Here events are queued in `session.info` and written with one executemany just
before the commit, in order, into the same shared outbox table: the relay and its guarantees are
unchanged. The envelope class is cached per event type, too. (Proposed for libs/common: both
in `enqueue` / `new_event`.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import OutboxMessage, utcnow
from incidents_common.events import CloudEvent, Contract, encode_event, event_type_name, subject_of
from incidents_common.tracing import current_traceparent

_KEY = "routing.outbox"


@lru_cache(maxsize=64)
def _envelope(model: type[Contract]) -> type[CloudEvent[Any]]:
    # `CloudEvent[type(data)]` inside new_event re-resolves pydantic's generic on every call
    # (about 1 ms); one parametrised class per event type is enough.
    return CloudEvent[model]  # type: ignore[valid-type]


def _new_event(data: Contract, *, source: str, origin_post_id: str | None) -> CloudEvent[Any]:
    """incidents_common.events.new_event with the envelope class cached."""
    return _envelope(type(data))(
        id=str(uuid.uuid4()),
        source=source,
        type=event_type_name(type(data)),
        time=datetime.now(UTC),
        originpostid=origin_post_id,
        traceparent=current_traceparent(),
        data=data,
    )


def publish(
    session: AsyncSession, data: Contract, *, source: str, origin_post_id: str | None = None
) -> CloudEvent[Any]:
    """Like incidents_common.db.publish: the event goes out after the commit, or never."""
    cloud_event = _new_event(data, source=source, origin_post_id=origin_post_id)
    session.info.setdefault(_KEY, []).append(
        {
            "event_id": cloud_event.id,
            "subject": subject_of(cloud_event.data),
            "payload": encode_event(cloud_event),
            "created_at": utcnow(),
        }
    )
    session.info["outbox_pending"] = True  # wakes the relay after the commit (Database.transaction)
    return cloud_event


def pending(session: AsyncSession) -> list[dict[str, Any]]:
    """Events queued in this transaction and not yet written (for tests and diagnostics)."""
    return list(session.info.get(_KEY, []))


_UPSERTS = "routing.upserts"
_INSERTS = "routing.inserts"


def defer_insert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert `row` with its like in one executemany before the commit (append-only rows such as
    the audit log: building an ORM object costs more than the whole insert). A reader in the same
    transaction calls `flush_deferred` first."""
    session.info.setdefault(_INSERTS, {}).setdefault(table, []).append(row)


async def flush_deferred(session: AsyncSession) -> None:
    await session.run_sync(_write_rows)


def _write_rows(session: Session) -> None:
    for table, rows in session.info.pop(_INSERTS, {}).items():
        session.connection().execute(table.insert(), rows)
    for table, rows in session.info.pop(_UPSERTS, {}).items():
        _upsert(session, table, rows)


def defer_upsert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert-or-replace `row` (by primary key) just before the commit, batched with its like.

    For bookkeeping nobody reads back in the same transaction (skipped posts): no SELECT first."""
    session.info.setdefault(_UPSERTS, {}).setdefault(table, []).append(row)


def _upsert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    keys = [c.name for c in table.primary_key.columns]
    latest = {tuple(r[k] for k in keys): r for r in rows}  # one row per key, the last wins
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    session.connection().execute(statement, list(latest.values()))


@event.listens_for(Session, "before_commit")
def _write_deferred(session: Session) -> None:
    _write_rows(session)
    rows = session.info.pop(_KEY, None)
    if rows:
        session.connection().execute(OutboxMessage.__table__.insert(), rows)  # type: ignore[attr-defined]


@event.listens_for(Session, "after_rollback")
def _drop_deferred(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_UPSERTS, None)
    session.info.pop(_INSERTS, None)
