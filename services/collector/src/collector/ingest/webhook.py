"""The Telegram webhook: one Update that Telegram sends for a source in webhook mode, authenticated by
the source's secret token and ingested like a polled message (registration: collector.sources.service)."""

from __future__ import annotations

import hmac
from typing import Any

from collector.connectors.telegram import post_from_update
from collector.ingest.ingestor import Ingestor
from collector.ingest.schemas import IngestResult
from collector.sources.service import get_source_row
from incidents_common.problems import Forbidden, InvalidInput, NotFound
from incidents_common.secretbox import SecretBox


async def receive_telegram_update(
    ingestor: Ingestor, *, source_id: str, update: dict[str, Any], secret: str | None, box: SecretBox
) -> IngestResult:
    """Check X-Telegram-Bot-Api-Secret-Token (`secret`) against the source's, then ingest the Update's post.

    A disabled source's Updates are acknowledged but not collected, so that Telegram does not retry them."""
    # A short session of its own: the ingest transaction that follows is the Ingestor's.
    async with ingestor.db.sessions() as session:
        source = await get_source_row(session, source_id=source_id)
    stored_secret = source.settings.get("secret")
    expected = box.reveal(stored_secret) if stored_secret else ""
    if source.type != "telegram" or source.settings.get("mode") != "webhook":
        raise NotFound(f"source {source_id} is not a Telegram webhook source")
    if not expected or not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Forbidden("wrong or missing X-Telegram-Bot-Api-Secret-Token")
    if not source.enabled:
        return IngestResult()
    try:
        post = post_from_update(update)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"not a Telegram Update: {exc!r}") from exc
    if post is None:
        return IngestResult()
    return await ingestor.ingest([post], source_id=source_id)
