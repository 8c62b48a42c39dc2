"""What the read-model consumers (incidents, posts, surge alerts) share: rows loaded by key in
chunks, key locks between replicas, and the commit order of the event log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, select, text
from sqlalchemy.schema import Table
from sqlmodel.ext.asyncio.session import AsyncSession

IN_CHUNK = 500


def chunks(values: Iterable[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]


async def rows_by_key(
    session: AsyncSession, table: Table, key: str, values: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The rows of `table` whose `key` is among `values`, as plain dicts (no ORM objects)."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(values):
        result = await (await session.connection()).execute(select(table).where(table.c[key].in_(chunk)))
        found.update({row[key]: dict(row) for row in result.mappings()})
    return found


_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(hashtext(:space), k)) FROM "
    "(SELECT DISTINCT hashtext(v) AS k FROM unnest(:values) AS v ORDER BY k) AS keys"
).bindparams(bindparam("values", type_=ARRAY(Text)))


async def lock_keys(session: AsyncSession, space: str, values: Iterable[str]) -> None:
    """PostgreSQL: lock these keys of `space` until the transaction ends, in one ascending order.

    Gateway replicas share each durable consumer, so two batches touching one incident (or post) may
    run at once. Each decides from the row it read: without the lock, the later commit would
    overwrite the other's effect with a row computed without it (an escalation uncounted, a new
    snapshot replaced by an older one). A key lock (transaction-scoped advisory lock on a hash of the
    id) also covers rows that do not exist yet, which SELECT … FOR UPDATE cannot. SQLite needs none:
    it has one writer at a time, and a transaction whose reads went stale cannot write (SQLITE_BUSY).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    await (await session.connection()).execute(_LOCK_KEYS, {"space": space, "values": sorted(set(values))})


async def serialize_event_log(session: AsyncSession) -> None:
    """Make `gw_incident_event.seq` commit-ordered: call just before the history rows are inserted.

    SSE streams and the webhook dispatcher read the log with a cursor (`seq > last seen`). With
    several writers on PostgreSQL a sequence number is taken at INSERT, not at COMMIT: a transaction
    holding seq 41 may commit after another's 42 was read, and a cursor already at 42 would skip 41
    for ever. So the writers take one transaction-scoped lock before inserting their history rows
    and hold it until their commit: whoever takes a seq after us commits after us, so once a reader
    sees a seq, every lower seq that will ever commit has committed, and its cursor is safe. The
    serialized part is short (the history and inbox INSERTs and the COMMIT), and the readers stay
    plain indexed range scans with numeric SSE ids. The other designs cost more: a horizon from
    pg_snapshot_xmin needs a cursor over transaction ids rather than `seq` (and a long transaction
    elsewhere in the database holds every stream back); re-reading a trailing window with
    de-duplication is only as safe as the window is long. (The sequence must keep CACHE 1, the
    default, so that numbers follow the order of the calls.) SQLite needs no lock: its one writer at
    a time makes insert order the commit order.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    await (await session.connection()).execute(text("SELECT pg_advisory_xact_lock(hashtext('gw_incident_event'), 0)"))
