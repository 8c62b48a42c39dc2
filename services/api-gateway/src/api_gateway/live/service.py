"""The Server-Sent Events stream: the event log (incident events and surge alerts, `alert.surge`) of the
caller's regions, resumable by the log's seq, and ended when the credential that opened it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from sqlalchemy import func
from sqlmodel import col, select
from sse_starlette import ServerSentEvent

from api_gateway.auth.models import RevokedToken
from api_gateway.auth.principal import Principal
from api_gateway.auth.service import owner_principal
from api_gateway.config import Settings
from api_gateway.incidents.models import IncidentEventLog
from incidents_common.db import Database
from incidents_common.problems import InvalidInput


async def last_seq(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.max(IncidentEventLog.seq)))).one() or 0)


async def events_after(
    db: Database, after: int, regions: list[str] | None, types: list[str] | None, limit: int = 500
) -> list[IncidentEventLog]:
    """The next events after `after`. Safe as a cursor with several writing replicas: the log's seq is
    commit-ordered (readmodel.serialize_event_log), so no event can commit below a seq already read."""
    async with db.transaction() as session:
        query = select(IncidentEventLog).where(col(IncidentEventLog.seq) > after)
        if regions is not None:
            query = query.where(col(IncidentEventLog.region_code).in_(regions))
        if types:
            query = query.where(col(IncidentEventLog.type).in_(types))
        return list((await session.exec(query.order_by(col(IncidentEventLog.seq)).limit(limit))).all())


async def end_reason(db: Database, principal: Principal) -> str | None:
    """Why an open stream must end now (None: it may go on): the credential was revoked, or its
    role, regions or official changed since the stream opened (the stream was filtered by them)."""
    async with db.transaction() as session:
        if principal.token_id is not None and await session.get(RevokedToken, principal.token_id) is not None:
            return "token_revoked"
        current = await owner_principal(session, principal.subject)
    if current is None:
        return "credential_revoked"
    if (current.role, current.regions, current.official_id) != (
        principal.role,
        principal.regions,
        principal.official_id,
    ):
        return "credential_changed"
    return None


async def start_after(db: Database, last_event_id: str | None, from_start: bool) -> int:
    """Where a stream starts: after the client's Last-Event-ID, else at the start of the log
    (`from_start`), else after its newest event."""
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidInput("Last-Event-ID must be the numeric id of an event from this stream")
        return int(last_event_id)
    return 0 if from_start else await last_seq(db)


def closing(reason: str) -> ServerSentEvent:
    # No id: a client that reconnects with a fresh credential resumes after the last real event.
    return ServerSentEvent(event="stream.closed", data=orjson.dumps({"reason": reason}).decode())


async def stream(
    db: Database,
    settings: Settings,
    principal: Principal,
    *,
    after: int,
    regions: list[str] | None,
    types: list[str] | None,
) -> AsyncIterator[ServerSentEvent]:
    """The events of the log after `after` (in the caller's `regions`, of `types`), polled, until what
    opened the stream ends."""
    # The stream ends (after a `stream.closed` event with the reason) when the access token
    # expires, at once, and when the credential is revoked or its role or regions change, found
    # by a re-check every sse_recheck_seconds: a stream never outlives what opened it.
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + settings.sse_recheck_seconds
    while True:
        if principal.expires_at is not None and time.time() >= principal.expires_at:
            yield closing("token_expired")
            return
        if loop.time() >= recheck_at:
            recheck_at = loop.time() + settings.sse_recheck_seconds
            reason = await end_reason(db, principal)
            if reason is not None:
                yield closing(reason)
                return
        rows = await events_after(db, after, regions, types)
        for row in rows:
            after = row.seq or after
            yield ServerSentEvent(id=str(row.seq), event=row.type, data=orjson.dumps(row.payload).decode())
        if not rows:
            pause = min(settings.sse_poll_interval, recheck_at - loop.time())
            if principal.expires_at is not None:
                pause = min(pause, principal.expires_at - time.time())
            await asyncio.sleep(max(0.0, pause))
