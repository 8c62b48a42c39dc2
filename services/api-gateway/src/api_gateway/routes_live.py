"""Live updates: a Server-Sent Events stream of incident events and webhook subscriptions."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from sqlalchemy import func
from sqlmodel import col, select
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from api_gateway.auth import Principal
from api_gateway.deps import PrincipalDep, StreamPrincipalDep
from api_gateway.models import IncidentEventLog, Webhook, WebhookDelivery
from api_gateway.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from api_gateway.webhooks import owner_principal
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
    async with db.transaction() as session:
        query = select(IncidentEventLog).where(col(IncidentEventLog.seq) > after)
        if regions is not None:
            query = query.where(col(IncidentEventLog.region_code).in_(regions))
        if types:
            query = query.where(col(IncidentEventLog.type).in_(types))
        return list((await session.exec(query.order_by(col(IncidentEventLog.seq)).limit(limit))).all())


async def _still_valid(db: Database, principal: Principal) -> bool:
    async with db.transaction() as session:
        return await owner_principal(session, principal.subject) is not None


@router.get(
    "/events/stream",
    summary="Server-Sent Events: incident events of your regions; resume with Last-Event-ID",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "text/event-stream", "content": {"text/event-stream": {"example": SSE_EXAMPLE}}},
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
        nonlocal after
        checked = asyncio.get_running_loop().time()
        while True:
            loop_time = asyncio.get_running_loop().time()
            if loop_time - checked > settings.sse_recheck_seconds:
                # A revoked credential loses its open streams too, not only new requests.
                checked = loop_time
                if not await _still_valid(db, principal):
                    return
            rows = await _events_after(db, after, regions, type)
            for row in rows:
                after = row.seq or after
                yield ServerSentEvent(id=str(row.seq), event=row.type, data=orjson.dumps(row.payload).decode())
            if not rows:
                await asyncio.sleep(settings.sse_poll_interval)

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
    hook = Webhook(
        webhook_id=f"wh_{secrets.token_hex(8)}",
        owner=principal.subject,
        url=str(body.url),
        secret=body.secret or secrets.token_urlsafe(32),
        regions=sorted(set(body.regions)) or None,
        event_types=sorted(set(body.event_types)) or None,
        cursor=await _last_seq(request.app.state.db),
    )
    session.add(hook)
    return WebhookCreated(**_read(hook).model_dump(), secret=hook.secret)


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
