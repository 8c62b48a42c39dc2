"""Webhook subscriptions: a URL subscribed to the caller's incident events and surge alerts, signed
deliveries, and their log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api_gateway.auth.deps import PrincipalDep
from api_gateway.deps import DatabaseDep, SettingsDep
from api_gateway.webhooks import service
from api_gateway.webhooks.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from incidents_common.app import SessionDep

router = APIRouter(prefix="/v1", tags=["live"])


@router.post("/webhooks", response_model=WebhookCreated, status_code=201, summary="Subscribe a URL to incident events")
async def create_webhook(
    session: SessionDep, db: DatabaseDep, settings: SettingsDep, principal: PrincipalDep, body: WebhookCreate
) -> WebhookCreated:
    return await service.create_webhook(session, db=db, settings=settings, principal=principal, body=body)


@router.get("/webhooks", response_model=list[WebhookRead], summary="Your webhooks")
async def list_webhooks(session: SessionDep, principal: PrincipalDep) -> list[WebhookRead]:
    return await service.list_webhooks(session, principal=principal)


@router.delete("/webhooks/{webhook_id}", response_model=WebhookRead, summary="Unsubscribe (stops deliveries at once)")
async def delete_webhook(
    session: SessionDep, principal: PrincipalDep, webhook_id: Annotated[str, Path(max_length=64)]
) -> WebhookRead:
    return await service.delete_webhook(session, principal=principal, webhook_id=webhook_id)


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
    return await service.list_deliveries(
        session, principal=principal, webhook_id=webhook_id, status=status, limit=limit
    )
