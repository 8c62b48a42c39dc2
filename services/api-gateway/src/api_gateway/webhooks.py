"""Webhooks: incident events POSTed to subscribers' URLs, signed with HMAC-SHA256, retried with back-off.

Every delivery is a row in the delivery log (pending → delivered | failed). The signature header is
`X-Incidents-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; receivers
recompute it (see `verify_signature`) and refuse stale timestamps to stop replays. The owner's
regions are re-read on every pass, so a revoked or narrowed credential stops its webhooks at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth import Principal, principal_of
from api_gateway.config import Settings
from api_gateway.models import ApiClient, ApiKey, IncidentEventLog, Webhook, WebhookDelivery
from incidents_common.db import Database

log = logging.getLogger("api_gateway.webhooks")

SIGNATURE_HEADER = "X-Incidents-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


async def owner_principal(session: AsyncSession, owner: str) -> Principal | None:
    """The current identity behind a webhook, or None when it was revoked."""
    kind, _, ident = owner.partition(":")
    if kind == "key":
        key = await session.get(ApiKey, ident)
        if key is None or key.revoked_at is not None:
            return None
        return principal_of(owner, key.name, key.role, key.regions, key.official_id)
    if kind == "client":
        client = await session.get(ApiClient, ident)
        if client is None or not client.active:
            return None
        return principal_of(owner, client.name, client.role, client.regions, client.official_id)
    return None


def matches(webhook: Webhook, owner: Principal, event: IncidentEventLog) -> bool:
    if not owner.can_see(event.region_code):
        return False
    if webhook.regions and event.region_code not in webhook.regions:
        return False
    return not webhook.event_types or event.type in webhook.event_types


class WebhookDispatcher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.webhook_timeout, connect=min(2.0, self.settings.webhook_timeout)),
                follow_redirects=False,
                headers={"User-Agent": "incidents-api-gateway-webhooks"},
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self) -> None:
        while True:
            try:
                await self.fan_out()
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the dispatcher must outlive DB or network hiccups
                log.warning("webhook pass failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.webhook_poll_interval)

    async def fan_out(self, batch: int = 500) -> int:
        """Turn new events into pending deliveries for every matching webhook."""
        created = 0
        async with self.db.transaction() as session:
            hooks = (await session.exec(select(Webhook).where(col(Webhook.active).is_(True)))).all()
            now = datetime.now(UTC)
            for hook in hooks:
                owner = await owner_principal(session, hook.owner)
                if owner is None:
                    hook.active = False
                    session.add(hook)
                    continue
                events = (
                    await session.exec(
                        select(IncidentEventLog)
                        .where(col(IncidentEventLog.seq) > hook.cursor)
                        .order_by(col(IncidentEventLog.seq))
                        .limit(batch)
                    )
                ).all()
                for event in events:
                    if matches(hook, owner, event):
                        session.add(
                            WebhookDelivery(
                                webhook_id=hook.webhook_id,
                                seq=event.seq or 0,
                                event_id=event.event_id,
                                next_attempt_at=now,
                            )
                        )
                        created += 1
                if events:
                    hook.cursor = events[-1].seq or hook.cursor
                    session.add(hook)
        return created

    async def deliver_due(self, batch: int = 100) -> int:
        async with self.db.transaction() as session:
            query = (
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= datetime.now(UTC))
                .order_by(col(WebhookDelivery.id))
                .limit(batch)
            )
            if not self.db.is_sqlite:
                # Several gateway replicas may dispatch from one PostgreSQL: each takes its own rows.
                query = query.with_for_update(skip_locked=True)
            due = (await session.exec(query)).all()
            if not due:
                return 0
            hooks = {
                h.webhook_id: h
                for h in (
                    await session.exec(select(Webhook).where(col(Webhook.webhook_id).in_({d.webhook_id for d in due})))
                ).all()
            }
            events = {
                e.seq: e
                for e in (
                    await session.exec(
                        select(IncidentEventLog).where(col(IncidentEventLog.seq).in_({d.seq for d in due}))
                    )
                ).all()
            }
            owners = {h.webhook_id: await owner_principal(session, h.owner) for h in hooks.values()}
            semaphore = asyncio.Semaphore(20)

            async def attempt(delivery: WebhookDelivery) -> None:
                hook = hooks.get(delivery.webhook_id)
                event = events.get(delivery.seq)
                owner = owners.get(delivery.webhook_id)
                # Re-checked at send time: a revoked or narrowed owner gets nothing it may no longer see.
                if (
                    hook is None
                    or not hook.active
                    or event is None
                    or owner is None
                    or not owner.can_see(event.region_code)
                ):
                    delivery.status = "cancelled"
                    return
                async with semaphore:
                    await self._send(hook, event, delivery)

            await asyncio.gather(*(attempt(d) for d in due))
            for delivery in due:
                session.add(delivery)
        return len(due)

    async def _send(self, hook: Webhook, event: IncidentEventLog, delivery: WebhookDelivery) -> None:
        body = orjson.dumps(event.payload)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: sign(hook.secret, body, timestamp),
            "X-Incidents-Event-Id": event.event_id,
            "X-Incidents-Delivery": str(delivery.id),
            "X-Incidents-Event-Seq": str(event.seq),
        }
        delivery.attempts += 1
        error: str | None = None
        try:
            response = await self.client.post(hook.url, content=body, headers=headers)
            delivery.last_status_code = response.status_code
            if 200 <= response.status_code < 300:
                delivery.status = "delivered"
                delivery.delivered_at = datetime.now(UTC)
                delivery.last_error = None
                return
            error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:500]
        delivery.last_error = error
        if delivery.attempts >= self.settings.webhook_max_attempts:
            delivery.status = "failed"
            return
        backoff = self.settings.webhook_backoff_base * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = datetime.now(UTC) + timedelta(seconds=backoff)
