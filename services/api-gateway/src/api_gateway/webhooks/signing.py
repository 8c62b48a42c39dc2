"""Webhook signatures and the keys that make them.

The signature header is `X-Incidents-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`; receivers recompute it (see `verify_signature`) and refuse stale timestamps to stop
replays. Each webhook's HMAC key is stored encrypted in gw_webhook_secret (SecretBox,
GATEWAY_SECRET_KEYS).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.webhooks.models import Webhook, WebhookSecret
from incidents_common.secretbox import SecretBox

SIGNATURE_HEADER = "X-Incidents-Signature"


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
