"""Live updates: a Server-Sent Events stream of incident events (and surge alerts, `alert.surge`) and
webhook subscriptions."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from sqlalchemy import func
from sqlmodel import col, select
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from api_gateway.auth import Principal
from api_gateway.deps import PrincipalDep, StreamPrincipalDep
from api_gateway.models import IncidentEventLog, RevokedToken, Webhook, WebhookDelivery
from api_gateway.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from api_gateway.webhooks import check_webhook_url, owner_principal, store_secret
from incidents_common.app import SessionDep
from incidents_common.db import Database
from incidents_common.problems import InvalidInput, NotFound

router = APIRouter(prefix="/v1", tags=["live"])

SSE_EXAMPLE = (
    "id: 42\nevent: incident.status_changed\n"
    'data: {"specversion":"1.0","id":"e-42","type":"ru.incidents.incident.status_changed","data":{"incident":{…}}}\n\n'
)


async def _last_seq(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.max(IncidentEventLog.seq)))).one() or 0)  # type: ignore[call-overload]


async def _events_after(
    db: Database, after: int, regions: list[str] | None, types: list[str] | None, limit: int = 500
) -> list[IncidentEventLog]:
    """The next events after `after`. Safe as a cursor with several writing replicas: the log's seq is
    commit-ordered (consumers.serialize_event_log), so no event can commit below a seq already read."""
    async with db.transaction() as session:
        query = select(IncidentEventLog).where(col(IncidentEventLog.seq) > after)
        if regions is not None:
            query = query.where(col(IncidentEventLog.region_code).in_(regions))
        if types:
            query = query.where(col(IncidentEventLog.type).in_(types))
        return list((await session.exec(query.order_by(col(IncidentEventLog.seq)).limit(limit))).all())


async def _end_reason(db: Database, principal: Principal) -> str | None:
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


def _closing(reason: str) -> ServerSentEvent:
    # No id: a client that reconnects with a fresh credential resumes after the last real event.
    return ServerSentEvent(event="stream.closed", data=orjson.dumps({"reason": reason}).decode())


@router.get(
    "/events/stream",
    summary="Server-Sent Events: incident events and surge alerts of your regions; resume with Last-Event-ID",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": (
                'text/event-stream. The stream ends with `event: stream.closed` and `data: {"reason": …}` '
                "(token_expired, token_revoked, credential_revoked, credential_changed) when what opened it ends"
            ),
            "content": {"text/event-stream": {"example": SSE_EXAMPLE}},
        },
        404: {"description": "None of the requested regions is yours"},
    },
)
async def stream_events(
    request: Request,
    principal: StreamPrincipalDep,
    region: Annotated[list[str] | None, Query(examples=[["64"]])] = None,
    type: Annotated[list[str] | None, Query(examples=[["incident.created"]], description="Event types")] = None,  # noqa: A002
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    from_start: Annotated[bool, Query(description="Without Last-Event-ID: replay the stored history first")] = False,
) -> EventSourceResponse:
    regions = principal.visible(region)
    if regions is not None and not regions:
        raise NotFound("none of the requested regions is yours")
    db: Database = request.app.state.db
    settings = request.app.state.settings
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise InvalidInput("Last-Event-ID must be the numeric id of an event from this stream")
        after = int(last_event_id)
    else:
        after = 0 if from_start else await _last_seq(db)

    async def generate() -> AsyncIterator[ServerSentEvent]:
        # The stream ends (after a `stream.closed` event with the reason) when the access token
        # expires, at once, and when the credential is revoked or its role or regions change, found
        # by a re-check every sse_recheck_seconds: a stream never outlives what opened it.
        nonlocal after
        loop = asyncio.get_running_loop()
        recheck_at = loop.time() + settings.sse_recheck_seconds
        while True:
            if principal.expires_at is not None and time.time() >= principal.expires_at:
                yield _closing("token_expired")
                return
            if loop.time() >= recheck_at:
                recheck_at = loop.time() + settings.sse_recheck_seconds
                reason = await _end_reason(db, principal)
                if reason is not None:
                    yield _closing(reason)
                    return
            rows = await _events_after(db, after, regions, type)
            for row in rows:
                after = row.seq or after
                yield ServerSentEvent(id=str(row.seq), event=row.type, data=orjson.dumps(row.payload).decode())
            if not rows:
                pause = min(settings.sse_poll_interval, recheck_at - loop.time())
                if principal.expires_at is not None:
                    pause = min(pause, principal.expires_at - time.time())
                await asyncio.sleep(max(0.0, pause))

    return EventSourceResponse(generate(), ping=settings.sse_ping_seconds, headers={"Cache-Control": "no-store"})


def _read(hook: Webhook) -> WebhookRead:
    return WebhookRead.model_validate(hook, from_attributes=True)


async def _own_hook(session: Any, principal: Principal, webhook_id: str) -> Webhook:
    hook = await session.get(Webhook, webhook_id)
    if hook is None or hook.owner != principal.subject:
        raise NotFound(f"no webhook {webhook_id}")
    return hook  # type: ignore[no-any-return]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201, summary="Subscribe a URL to incident events")
async def create_webhook(
    request: Request, session: SessionDep, principal: PrincipalDep, body: WebhookCreate
) -> WebhookCreated:
    outside = [r for r in body.regions if not principal.can_see(r)]
    if outside:
        raise NotFound(f"regions not among yours: {', '.join(outside)}")
    settings = request.app.state.settings
    url = str(body.url)
    await check_webhook_url(url, settings.webhook_allowed_hosts)
    hook = Webhook(
        webhook_id=f"wh_{secrets.token_hex(8)}",
        owner=principal.subject,
        url=url,
        regions=sorted(set(body.regions)) or None,
        event_types=sorted(set(body.event_types)) or None,
        cursor=await _last_seq(request.app.state.db),
    )
    generated = None if body.secret else secrets.token_urlsafe(32)
    session.add(hook)
    store_secret(session, hook, body.secret or str(generated), settings.secret_box())
    # A secret the caller chose is not sent back; a generated one is shown this once.
    return WebhookCreated(**_read(hook).model_dump(), secret=generated)


@router.get("/webhooks", response_model=list[WebhookRead], summary="Your webhooks")
async def list_webhooks(session: SessionDep, principal: PrincipalDep) -> list[WebhookRead]:
    rows = (await session.exec(select(Webhook).where(Webhook.owner == principal.subject))).all()
    return [_read(h) for h in rows]


@router.delete("/webhooks/{webhook_id}", response_model=WebhookRead, summary="Unsubscribe (stops deliveries at once)")
async def delete_webhook(
    session: SessionDep, principal: PrincipalDep, webhook_id: Annotated[str, Path(max_length=64)]
) -> WebhookRead:
    hook = await _own_hook(session, principal, webhook_id)
    hook.active = False
    session.add(hook)
    return _read(hook)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryRead],
    summary="The delivery log of a webhook (newest first)",
)
async def list_deliveries(
    session: SessionDep,
    principal: PrincipalDep,
    webhook_id: Annotated[str, Path(max_length=64)],
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryRead]:
    await _own_hook(session, principal, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = (await session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit))).all()
    return [DeliveryRead.model_validate(d, from_attributes=True) for d in rows]
