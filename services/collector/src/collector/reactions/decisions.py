"""Which comments and messages are reactions to a published reply: pure functions, unit-tested."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.models import Publication
from collector.publishing.decisions import VkTarget
from incidents_common.events import ReactionCollected, SourceType

log = logging.getLogger("collector.reactions")

MAX_TEXT = 20_000  # ReactionCollected.text


def reaction(
    publication: Publication,
    *,
    source_type: str,
    external_id: str,
    url: str | None,
    author_id: str | None,
    complainant: str | None,
    text: str,
    published_at: datetime,
) -> ReactionCollected:
    """The event of one comment or message under `publication`'s reply; `complainant` is the complaint
    post's author_id (the connectors key authors the same way for posts and answers)."""
    return ReactionCollected(
        reaction_id=f"{source_type}:{external_id}",
        reply_id=publication.reply_id,
        incident_id=publication.incident_id,
        region_code=publication.region_code,
        source_type=SourceType(source_type),
        external_id=external_id,
        url=url,
        author_id=author_id,
        by_complainant=author_id is not None and author_id == complainant,
        text=text[:MAX_TEXT],
        published_at=published_at,
    )


def vk_reactions(
    publication: Publication, target: VkTarget, comments: Iterable[Mapping[str, Any]], *, complainant: str | None
) -> list[ReactionCollected]:
    """The comments (and thread items) read under the reply that are reactions to it: written after it
    (a greater comment id: VK numbers a wall's comments in order), not the reply itself nor another
    comment of the community whose wall it is, not deleted, with text."""
    official = int(publication.published_id or 0)
    found: dict[int, ReactionCollected] = {}
    for comment in comments:
        try:
            comment_id = int(comment["id"])
            from_id = int(comment.get("from_id") or 0)
            date = datetime.fromtimestamp(int(comment["date"]), UTC)
        except (KeyError, TypeError, ValueError):
            log.warning("vk comment skipped", extra={"reply_id": publication.reply_id, "comment": repr(comment)[:200]})
            continue
        text = str(comment.get("text") or "").strip()
        if comment_id <= official or comment.get("deleted") or not text or comment_id in found:
            continue
        if target.owner_id < 0 and from_id == target.owner_id:
            continue  # the community's own comment (as the community), not a citizen's
        found[comment_id] = reaction(
            publication,
            source_type="vk",
            external_id=f"{target.owner_id}_{target.post_id}_c{comment_id}",
            url=target.url(comment_id),
            author_id=str(from_id) if from_id else None,
            complainant=complainant,
            text=text,
            published_at=date,
        )
    return [found[k] for k in sorted(found)]


def _telegram_id(external_id: str) -> tuple[str, int] | None:
    chat, _, message = external_id.rpartition("_")
    return (chat, int(message)) if chat and message.lstrip("-").isdigit() else None


def telegram_match(
    row: Mapping[str, Any], publications: Sequence[Publication], *, watch: timedelta
) -> Publication | None:
    """The publication an ingested Telegram message (a posts row) reacts to, or None: it answers the
    bot's published reply or the complaint message, after the reply (a greater message id in the chat:
    Telegram numbers a chat's messages in order; by time when the reply's id is unknown) and within
    the watch period. Of several replies to one complaint, the latest one before the message."""
    parent = row.get("parent_external_id")
    message = _telegram_id(str(row.get("external_id") or ""))
    if not parent or message is None:
        return None
    chat, message_id = message
    written: datetime = row["published_at"]
    best: Publication | None = None
    for publication in publications:
        if publication.published_at is None:
            continue
        published_at = publication.published_at
        complaint = _telegram_id(publication.external_id)
        if complaint is None or complaint[0] != chat:
            continue
        bot_message = f"{chat}_{publication.published_id}" if publication.published_id else None
        if parent not in (publication.external_id, bot_message) or row["external_id"] == bot_message:
            continue
        if publication.published_id and publication.published_id.isdigit():
            after = message_id > int(publication.published_id)
        else:  # Telegram said ok without the id: by time, to the second (a message's `date`)
            after = written >= published_at.replace(microsecond=0)
        if not after or written > published_at + watch:
            continue
        if best is None or published_at > (best.published_at or published_at):
            best = publication
    return best
