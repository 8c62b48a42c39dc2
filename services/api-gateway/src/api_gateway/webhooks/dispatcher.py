"""The webhook dispatcher: incident events POSTed to subscribers' URLs, signed with HMAC-SHA256, retried
with back-off, in the order of the event log.

Every delivery is a row in the delivery log (pending → delivered | failed | cancelled), signed as
webhooks/signing.py says, its outcome stored as soon as the receiver answered. A webhook's deliveries
go out one at a time in event-sequence order, one sender per webhook across replicas
(webhooks/claims.py); different webhooks are sent at once. The owner's regions are re-read on every
pass, so a revoked or narrowed credential stops its webhooks at once. Targets are checked again at
every delivery (webhooks/targets.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import and_, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal
from api_gateway.auth.service import owner_principal
from api_gateway.config import Settings
from api_gateway.incidents.models import IncidentEventLog
from api_gateway.webhooks.claims import WebhookClaims
from api_gateway.webhooks.models import Webhook, WebhookDelivery
from api_gateway.webhooks.signing import SIGNATURE_HEADER, seal_plaintext_webhooks, sign, webhook_secrets
from api_gateway.webhooks.targets import UNREACHABLE, TargetRefused, pin_target
from incidents_common.db import Database
from incidents_common.secretbox import SecretBoxError
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS

log = logging.getLogger("api_gateway.webhooks")

# Webhooks sent at once by one dispatcher (each one POST at a time).
PARALLEL_WEBHOOKS = 20


def matches(webhook: Webhook, owner: Principal, event: IncidentEventLog) -> bool:
    if not owner.can_see(event.region_code):
        return False
    if webhook.regions and event.region_code not in webhook.regions:
        return False
    return not webhook.event_types or event.type in webhook.event_types


class WebhookDispatcher:
    """Fans incident events out into deliveries and sends the due ones, pass after pass.

    Shutdown (the task running `run` is cancelled): no new POST starts; the POSTs in flight may
    finish for up to `shutdown_grace` seconds (default: the webhook timeout plus 2 s) and their
    results are recorded, so that none of them is sent again at the next start. A POST still
    running then is abandoned and the delivery stays as it was (pending: sent at the next start).
    """

    def __init__(self, db: Database, settings: Settings, *, shutdown_grace: float | None = None) -> None:
        self.db = db
        self.settings = settings
        self.shutdown_grace = shutdown_grace if shutdown_grace is not None else settings.webhook_timeout + 2.0
        self._client: httpx.AsyncClient | None = None
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._sending: set[str] = set()  # webhooks one of this dispatcher's passes is sending

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.webhook_timeout, connect=min(2.0, self.settings.webhook_timeout)),
                follow_redirects=False,
                headers={"User-Agent": "incidents-api-gateway-webhooks"},
                # A receiver may close an idle connection after 5 s (uvicorn's default): a delivery sent on
                # it as it closes gets no answer and is sent again, though the receiver never saw it.
                limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def seal_plaintext(self) -> int:
        async with self.db.transaction() as session:
            sealed = await seal_plaintext_webhooks(session, self.settings.secret_box())
        if sealed:
            log.info("encrypted webhook secrets stored in plaintext", extra={"webhooks": sealed})
        return sealed

    async def run(self) -> None:
        try:
            await self.seal_plaintext()
        except Exception as exc:  # noqa: BLE001 - deliveries still read a plaintext secret; `rotate` seals it
            log.warning("sealing plaintext webhook secrets failed", extra={"error": repr(exc)})
        while True:
            one_pass = asyncio.ensure_future(self._pass())
            try:
                await asyncio.shield(one_pass)
            except asyncio.CancelledError:
                await self._finish_pass(one_pass)
                raise
            await asyncio.sleep(self.settings.webhook_poll_interval)

    async def _pass(self) -> None:
        try:
            await self.fan_out()
            await self.deliver_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the dispatcher must outlive DB or network hiccups
            log.warning("webhook pass failed", extra={"error": repr(exc)})

    async def _finish_pass(self, one_pass: asyncio.Future[None]) -> None:
        """Shutdown in the middle of a pass: start no new POST, let those in flight finish within
        `shutdown_grace` and record them; then abandon what still runs (it stays pending)."""
        self._stopping = True
        if one_pass.done():
            return
        _, running = await asyncio.wait({one_pass}, timeout=self.shutdown_grace)
        if running:
            abandoned = [task for task in self._in_flight if not task.done()]
            for task in abandoned:
                task.cancel()  # its delivery is left as it was; the pass goes on to record the others
            if abandoned:
                log.warning(
                    "webhook deliveries cut short by shutdown; sent again at the next start",
                    extra={"deliveries": len(abandoned)},
                )
            _, running = await asyncio.wait({one_pass}, timeout=5.0)
        if running:
            one_pass.cancel()
            await asyncio.wait({one_pass})

    async def fan_out(self, batch: int = 500) -> int:
        """Turn new events into pending deliveries for every matching webhook.

        Each webhook keeps a cursor over the event log's `seq`, which is commit-ordered (see
        readmodel.serialize_event_log): an event committed late still has a `seq` above every cursor
        that could have passed it, so `seq > cursor` skips nothing. With several replicas, a webhook
        is fanned out by one of them at a time (its row locked; the others skip it this pass), and a
        delivery is unique per (webhook, event), so no event is queued twice for one webhook.
        """
        async with self.db.transaction() as session:
            query = select(Webhook).where(col(Webhook.active).is_(True)).order_by(col(Webhook.webhook_id))
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            hooks = (await session.exec(query)).all()
            now = datetime.now(UTC)
            deliveries: list[dict[str, object]] = []
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
                        deliveries.append(
                            {
                                "webhook_id": hook.webhook_id,
                                "seq": event.seq or 0,
                                "event_id": event.event_id,
                                "status": "pending",
                                "attempts": 0,
                                "next_attempt_at": now,
                                "created_at": now,
                            }
                        )
                if events:
                    hook.cursor = events[-1].seq or hook.cursor
                    session.add(hook)
            # Nothing to update: ON CONFLICT (webhook_id, event_id) DO NOTHING, the unique key's backstop.
            session.writes.upsert(WebhookDelivery, deliveries, keys=["webhook_id", "event_id"], update=[])
        return len(deliveries)

    async def deliver_due(self, batch: int = 100) -> int:
        """Send what is due, webhook by webhook; returns how many deliveries it attempted or settled.

        A webhook's deliveries go out one at a time in event-sequence order, and one that waits for
        its retry holds back every later one of its webhook until it is delivered or has failed for
        good: a receiver gets a webhook's events in the order of the log. Different webhooks are
        sent at once (up to PARALLEL_WEBHOOKS), each for about one POST timeout per pass, so that a
        slow receiver does not keep the others' new events waiting long.
        """
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            heads = (
                select(WebhookDelivery.webhook_id, func.min(WebhookDelivery.seq).label("seq"))
                .where(WebhookDelivery.status == "pending")
                .group_by(col(WebhookDelivery.webhook_id))
                .subquery()
            )
            # Webhooks whose first pending delivery is due (a later one may be due while it is not).
            ready = (
                await session.exec(
                    select(WebhookDelivery.webhook_id)
                    .join(
                        heads,
                        and_(
                            col(WebhookDelivery.webhook_id) == heads.c.webhook_id,
                            col(WebhookDelivery.seq) == heads.c.seq,
                        ),
                    )
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                    .order_by(col(WebhookDelivery.webhook_id))
                )
            ).all()
        if not ready:
            return 0
        gate = asyncio.Semaphore(PARALLEL_WEBHOOKS)
        async with WebhookClaims(self.db, self._sending) as claims:

            async def one(webhook_id: str) -> int:
                async with gate:
                    if not await claims.claim(webhook_id):
                        return 0  # another pass or replica is sending it
                    try:
                        return await self._deliver_in_order(webhook_id, batch=batch)
                    finally:
                        await claims.release(webhook_id)

            done = await asyncio.gather(*(one(webhook_id) for webhook_id in ready), return_exceptions=True)
        for webhook_id, outcome in zip(ready, done, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                log.warning("webhook deliveries failed", extra={"webhook": webhook_id, "error": repr(outcome)})
        return sum(outcome for outcome in done if isinstance(outcome, int))

    async def _deliver_in_order(self, webhook_id: str, *, batch: int) -> int:
        """Send a webhook's pending deliveries in sequence order, recording each as it ends, until one
        waits for its retry, the webhook's time in this pass is up, or the dispatcher stops."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.webhook_timeout
        async with self.db.transaction() as session:
            hook = await session.get(Webhook, webhook_id)
            owner = await owner_principal(session, hook.owner) if hook is not None else None
            if hook is None or not hook.active or owner is None:
                # Unsubscribed or its owner revoked: nothing more goes out.
                cancelled = await session.exec(
                    update(WebhookDelivery)
                    .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status) == "pending")
                    .values(status="cancelled")
                )
                return int(cancelled.rowcount or 0)
            queue = (
                await session.exec(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "pending")
                    .order_by(col(WebhookDelivery.seq))
                    .limit(batch)
                )
            ).all()
            events = {
                e.seq: e
                for e in (
                    await session.exec(
                        select(IncidentEventLog).where(col(IncidentEventLog.seq).in_({d.seq for d in queue}))
                    )
                ).all()
            }
            secret = (await self._secrets(session, [hook])).get(webhook_id)
        handled = 0
        for delivery in queue:
            if self._stopping or delivery.next_attempt_at > datetime.now(UTC):
                break
            if handled and loop.time() >= until:
                break  # the rest at the next pass
            event = events.get(delivery.seq)
            if event is None or not owner.can_see(event.region_code):
                # Re-checked at send time: a narrowed owner gets nothing it may no longer see.
                delivery.status = "cancelled"
            elif secret is None:
                delivery.status = "failed"
                delivery.last_error = "the webhook's secret cannot be read; create the webhook again"
            elif not await self._attempt(hook, secret, event, delivery):
                break  # abandoned at shutdown: left as it was, sent again at the next start
            handled += 1
            if not await self._record(delivery) or delivery.status == "pending":
                break  # unsubscribed meanwhile, or this one waits for its retry and the later ones with it
        return handled

    async def _attempt(self, hook: Webhook, secret: str, event: IncidentEventLog, delivery: WebhookDelivery) -> bool:
        """POST one delivery (its outcome set on `delivery`); False when shutdown abandoned it."""
        send = asyncio.ensure_future(self._send(hook, secret, event, delivery))
        self._in_flight.add(send)
        try:
            await send
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return False  # the POST may or may not have arrived; not recorded, so sent again later
        finally:
            self._in_flight.discard(send)
        return True

    async def _record(self, delivery: WebhookDelivery) -> bool:
        """Store a delivery's outcome at once (a restart sends nothing twice that was answered);
        whether its webhook is still subscribed."""
        async with self.db.transaction() as session:
            session.add(delivery)
            hook = await session.get(Webhook, delivery.webhook_id)
            return hook is not None and hook.active

    async def _secrets(self, session: AsyncSession, hooks: Iterable[Webhook]) -> dict[str, str]:
        box = self.settings.secret_box()
        found: dict[str, str] = {}
        for hook in hooks:  # one by one, so that one unreadable secret does not stop the others
            try:
                found.update(await webhook_secrets(session, [hook], box))
            except SecretBoxError:
                log.error(
                    "webhook secret cannot be decrypted with GATEWAY_SECRET_KEYS", extra={"webhook": hook.webhook_id}
                )
        return found

    async def _send(self, hook: Webhook, secret: str, event: IncidentEventLog, delivery: WebhookDelivery) -> None:
        body = orjson.dumps(event.payload)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: sign(secret, body, timestamp),
            "X-Incidents-Event-Id": event.event_id,
            "X-Incidents-Delivery": str(delivery.id),
            "X-Incidents-Event-Seq": str(event.seq),
        }
        delivery.attempts += 1
        delivery.last_status_code = None
        error: str | None = None
        try:
            target = await pin_target(hook.url, self.settings.webhook_allowed_hosts)
            response = await self.client.post(
                target.url, content=body, headers={**headers, **target.headers}, extensions=target.extensions
            )
            delivery.last_status_code = response.status_code
            if 200 <= response.status_code < 300:
                delivery.status = "delivered"
                delivery.delivered_at = datetime.now(UTC)
                delivery.last_error = None
                return
            error = f"HTTP {response.status_code}"
        except (TargetRefused, OSError, TimeoutError, ValueError, httpx.HTTPError, httpx.InvalidURL) as exc:
            # The caller learns only that it failed; which address or port did what stays in our log.
            log.warning(
                "webhook delivery failed",
                extra={"webhook": hook.webhook_id, "delivery": delivery.id, "error": f"{type(exc).__name__}: {exc}"},
            )
            error = UNREACHABLE
        delivery.last_error = error
        if delivery.attempts >= self.settings.webhook_max_attempts:
            delivery.status = "failed"
            return
        backoff = self.settings.webhook_backoff_base * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = datetime.now(UTC) + timedelta(seconds=backoff)
