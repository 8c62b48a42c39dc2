"""Webhook subscriptions of a caller: subscribe (the URL checked, the secret sealed), list, unsubscribe,
and the delivery log. A webhook is its owner's alone: another caller's is a 404."""

from __future__ import annotations

import secrets

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal
from api_gateway.config import Settings
from api_gateway.live.service import last_seq
from api_gateway.webhooks.models import Webhook, WebhookDelivery
from api_gateway.webhooks.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from api_gateway.webhooks.signing import store_secret
from api_gateway.webhooks.targets import check_webhook_url
from incidents_common.db import Database
from incidents_common.problems import NotFound


def to_read(hook: Webhook) -> WebhookRead:
    return WebhookRead.model_validate(hook, from_attributes=True)


async def own_hook(session: AsyncSession, principal: Principal, webhook_id: str) -> Webhook:
    hook = await session.get(Webhook, webhook_id)
    if hook is None or hook.owner != principal.subject:
        raise NotFound(f"no webhook {webhook_id}")
    return hook


async def create_webhook(
    session: AsyncSession, *, db: Database, settings: Settings, principal: Principal, body: WebhookCreate
) -> WebhookCreated:
    """Subscribe from the newest event on (the webhook's cursor starts at the end of the log)."""
    outside = [r for r in body.regions if not principal.can_see(r)]
    if outside:
        raise NotFound(f"regions not among yours: {', '.join(outside)}")
    url = str(body.url)
    await check_webhook_url(url, settings.webhook_allowed_hosts)
    hook = Webhook(
        webhook_id=f"wh_{secrets.token_hex(8)}",
        owner=principal.subject,
        url=url,
        regions=sorted(set(body.regions)) or None,
        event_types=sorted(set(body.event_types)) or None,
        cursor=await last_seq(db),
    )
    generated = None if body.secret else secrets.token_urlsafe(32)
    session.add(hook)
    store_secret(session, hook, body.secret or str(generated), settings.secret_box())
    # A secret the caller chose is not sent back; a generated one is shown this once.
    return WebhookCreated(**to_read(hook).model_dump(), secret=generated)


async def list_webhooks(session: AsyncSession, *, principal: Principal) -> list[WebhookRead]:
    rows = (await session.exec(select(Webhook).where(Webhook.owner == principal.subject))).all()
    return [to_read(h) for h in rows]


async def delete_webhook(session: AsyncSession, *, principal: Principal, webhook_id: str) -> WebhookRead:
    hook = await own_hook(session, principal, webhook_id)
    hook.active = False
    session.add(hook)
    return to_read(hook)


async def list_deliveries(
    session: AsyncSession, *, principal: Principal, webhook_id: str, status: str | None, limit: int
) -> list[DeliveryRead]:
    await own_hook(session, principal, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = (await session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit))).all()
    return [DeliveryRead.model_validate(d, from_attributes=True) for d in rows]
