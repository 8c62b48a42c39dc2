"""Routing's batched writes. Events and append-only rows use the shared bulk path of
incidents_common.db (one executemany before the commit); what is routing's own is the
insert-or-replace of bookkeeping rows that nobody reads back in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import add_rows_in_bulk, flush_pending_rows, publish

__all__ = ["defer_insert", "defer_upsert", "flush_deferred", "publish"]

_UPSERTS = "routing.upserts"


def defer_insert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert `row` with its like in one executemany before the commit (append-only rows such as
    the audit log). A reader in the same transaction calls `flush_deferred` first."""
    add_rows_in_bulk(session, table, [row])


async def flush_deferred(session: AsyncSession) -> None:
    await flush_pending_rows(session)
    await session.run_sync(_write_upserts)


def defer_upsert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert-or-replace `row` (by primary key) just before the commit, batched with its like."""
    session.info.setdefault(_UPSERTS, {}).setdefault(table, []).append(row)


def _write_upserts(session: Session) -> None:
    for table, rows in session.info.pop(_UPSERTS, {}).items():
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
def _write_deferred_upserts(session: Session) -> None:
    _write_upserts(session)


@event.listens_for(Session, "after_rollback")
def _drop_deferred_upserts(session: Session) -> None:
    session.info.pop(_UPSERTS, None)
