"""Webhooks: incident events POSTed to subscribers' URLs, signed with HMAC-SHA256, retried with back-off.

Every delivery is a row in the delivery log (pending → delivered | failed). The signature header is
`X-Incidents-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; receivers
recompute it (see `verify_signature`) and refuse stale timestamps to stop replays. The owner's
regions are re-read on every pass, so a revoked or narrowed credential stops its webhooks at once.

Targets: a webhook may only point at a public host, so that a caller cannot make the gateway call
services on its own network (SSRF). Loopback, private, link-local, unique-local, multicast, reserved
and unspecified addresses and internal names (`routing`, `localhost`, `*.local`, `*.internal` …)
are refused when the webhook is created and again at every delivery, where the name is resolved,
every address it resolves to must be public, and the connection goes to the address that was
checked (so a name cannot resolve to a public address for the check and to an internal one for the
call: DNS rebinding). Redirects are not followed. `GATEWAY_WEBHOOK_ALLOWED_HOSTS` names the
exceptions a deployment wants (a portal on its own network). The delivery log shows the caller one
generic reason for a refused or unreachable target, so it cannot be used to map which internal
hosts and ports answer; the precise reason goes to the gateway's log.

Secrets: each webhook's HMAC key is stored encrypted in gw_webhook_secret (SecretBox, GATEWAY_SECRET_KEYS).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth import Principal, principal_of
from api_gateway.config import Settings
from api_gateway.models import ApiClient, ApiKey, IncidentEventLog, Webhook, WebhookDelivery, WebhookSecret
from incidents_common.db import Database
from incidents_common.problems import ProblemError
from incidents_common.secretbox import SecretBox, SecretBoxError

log = logging.getLogger("api_gateway.webhooks")

SIGNATURE_HEADER = "X-Incidents-Signature"
# What the delivery log says for a target that was refused or did not answer: the same words for
# both, and no address or port, so that the log reveals nothing about the gateway's network.
UNREACHABLE = "target unreachable or not allowed"
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".lan", ".home.arpa", ".intranet", ".corp")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT = 3.0


class WebhookUrlRefused(ProblemError):
    status, slug, title = 422, "webhook-url-refused", "Webhook URL refused"


class TargetRefused(Exception):
    """A delivery target that is not public (the message is for the gateway's log only)."""


# ---------------------------------------------------------------------------------------------
# Which targets are allowed
# ---------------------------------------------------------------------------------------------


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(_normal(host).split("%", 1)[0])
    except ValueError:
        return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, unique-local, CGNAT, reserved,
    documentation, unspecified or multicast; IPv4 carried in IPv6 (mapped, 6to4, NAT64) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return address.is_global and not address.is_multicast


def host_refusal(host: str) -> str | None:
    """Why a URL's host is not a public target (None when it may be one, subject to resolution)."""
    name = _normal(host)
    address = _address(name)
    if address is not None:
        return None if is_public_address(address) else f"address {address} is not public"
    if not name or "." not in name:
        return f"single-label name {name!r} (an internal service name)"
    if name == "localhost" or name.endswith(INTERNAL_SUFFIXES):
        return f"internal name {name!r}"
    return None


def is_allowed_host(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether the deployment allowed this host (name or address) as a webhook target."""
    name = _normal(host)
    return any(name == _normal(entry) for entry in allowed_hosts if entry.strip())


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to play DNS)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_TIMEOUT
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refused_addresses(addresses: Iterable[str], allowed_hosts: Iterable[str]) -> list[str]:
    allowed = list(allowed_hosts)
    refused = []
    for text in addresses:
        address = _address(text)
        if address is None or not (is_public_address(address) or is_allowed_host(text, allowed)):
            refused.append(text)
    return refused


async def check_webhook_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """At creation: 422 (WebhookUrlRefused) for a URL whose host is not public, by its form or by
    what it resolves to now. A name that does not resolve yet is accepted: every delivery checks again."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    allowed = list(allowed_hosts)
    if is_allowed_host(host, allowed):
        return
    reason = host_refusal(host)
    if reason is None and _address(host) is None:
        try:
            addresses = await resolve_host(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        except (OSError, TimeoutError, UnicodeError):
            addresses = []
        if _refused_addresses(addresses, allowed):
            reason = "resolves to a non-public address"
    if reason is not None:
        log.info("webhook URL refused", extra={"host": host, "reason": reason})
        raise WebhookUrlRefused(
            "the webhook URL must name a public host: loopback, private, link-local, multicast and internal "
            "addresses and names are refused (a deployment can allow hosts with GATEWAY_WEBHOOK_ALLOWED_HOSTS)",
            errors=[{"loc": ["body", "url"], "msg": "host is not a public address", "type": "value_error"}],
        )


@dataclass(frozen=True)
class Target:
    """Where a delivery connects: the checked address, with the original Host and TLS server name."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def pin_target(url: str, allowed_hosts: Iterable[str]) -> Target:
    """At delivery: resolve, check every address, and connect to a checked one. TargetRefused or OSError."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    allowed = list(allowed_hosts)
    if is_allowed_host(host, allowed):
        return Target(parsed)
    reason = host_refusal(host)
    if reason is not None:
        raise TargetRefused(reason)
    if _address(host) is not None:
        return Target(parsed)
    addresses = await resolve_host(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    if not addresses:
        raise OSError(f"{host} resolves to nothing")
    refused = _refused_addresses(addresses, allowed)
    if refused:
        raise TargetRefused(f"{host} resolves to non-public {', '.join(refused)}")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=addresses[0]), {"Host": parsed.netloc.decode("ascii")}, extensions)


# ---------------------------------------------------------------------------------------------
# Secrets at rest
# ---------------------------------------------------------------------------------------------


def store_secret(session: AsyncSession, hook: Webhook, secret: str, box: SecretBox) -> None:
    hook.secret = ""
    session.add(WebhookSecret(webhook_id=hook.webhook_id, ciphertext=box.seal(secret)))


async def seal_plaintext_webhooks(session: AsyncSession, box: SecretBox) -> int:
    """Move secrets the release before encryption kept in gw_webhook.secret into gw_webhook_secret.

    Until this has run, such a webhook still works: its delivery reads the old column (plaintext is
    read transparently, and sealed here, at the dispatcher's start and by `rotate`, rather than by a
    migration that must run before the service: a database of the previous release works at once).
    """
    hooks = (await session.exec(select(Webhook).where(Webhook.secret != ""))).all()
    for hook in hooks:
        stored = await session.get(WebhookSecret, hook.webhook_id)
        if stored is None:
            session.add(WebhookSecret(webhook_id=hook.webhook_id, ciphertext=box.seal(hook.secret)))
        else:
            stored.ciphertext = box.seal(hook.secret)
            session.add(stored)
        hook.secret = ""
        session.add(hook)
    return len(hooks)


async def rotate_webhook_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every webhook secret with the first key (plaintext ones are sealed too)."""
    sealed = await seal_plaintext_webhooks(session, box)
    await session.flush()
    rows = (await session.exec(select(WebhookSecret))).all()
    for row in rows:
        row.ciphertext = box.rotate(row.ciphertext)
        session.add(row)
    return max(sealed, len(rows))


async def webhook_secrets(session: AsyncSession, hooks: Iterable[Webhook], box: SecretBox) -> dict[str, str]:
    """webhook id → its secret in clear (encrypted row, else the old release's plaintext column)."""
    hooks = list(hooks)
    rows = (
        await session.exec(
            select(WebhookSecret).where(col(WebhookSecret.webhook_id).in_([h.webhook_id for h in hooks]))
        )
    ).all()
    secrets = {h.webhook_id: h.secret for h in hooks if h.secret}
    for row in rows:
        secrets[row.webhook_id] = box.reveal(row.ciphertext)
    return secrets


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
        consumers.serialize_event_log): an event committed late still has a `seq` above every cursor
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
            secrets = await self._secrets(session, hooks.values())
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
                secret = secrets.get(hook.webhook_id)
                if secret is None:
                    delivery.status = "failed"
                    delivery.last_error = "the webhook's secret cannot be read; create the webhook again"
                    return
                async with semaphore:
                    if self._stopping:
                        return  # shutting down: not sent, stays pending for the next start
                    before = (delivery.attempts, delivery.last_status_code, delivery.last_error, delivery.status)
                    send = asyncio.ensure_future(self._send(hook, secret, event, delivery))
                    self._in_flight.add(send)
                    try:
                        await send
                    except asyncio.CancelledError:
                        current = asyncio.current_task()
                        if current is not None and current.cancelling():
                            raise
                        # Abandoned at shutdown: the POST may or may not have arrived; sent again later.
                        delivery.attempts, delivery.last_status_code, delivery.last_error, delivery.status = before
                    finally:
                        self._in_flight.discard(send)

            await asyncio.gather(*(attempt(d) for d in due))
            for delivery in due:
                session.add(delivery)
        return len(due)

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
