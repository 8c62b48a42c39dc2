"""Reactions stored once each with their ReactionCollected events, and the ingest hook that finds the
Telegram messages among ingested posts that react to a published reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from collector import EVENT_SOURCE
from collector.config import Settings
from collector.models import Post, Publication, Reaction
from collector.reactions.decisions import reaction, telegram_match
from incidents_common.db import WorkSession, utcnow, writes_of
from incidents_common.events import PublicationStatus, ReactionCollected

PUBLISHED = PublicationStatus.published.value


async def record_reactions(session: WorkSession, found: Sequence[tuple[ReactionCollected, str]]) -> int:
    """Queue the reactions not published yet (each with its complaint's post id) and their keys in the
    session's transaction; returns how many. A concurrent writer of the same key fails the commit."""
    if not found:
        return 0
    ids = list({r.reaction_id for r, _ in found})
    query = select(col(Reaction.reaction_id)).where(col(Reaction.reaction_id).in_(ids))
    known = set((await session.exec(query)).all())
    writes = writes_of(session)
    now = utcnow()
    rows = []
    for event, post_id in found:
        if event.reaction_id in known:
            continue
        known.add(event.reaction_id)
        rows.append(
            {
                "reaction_id": event.reaction_id,
                "reply_id": event.reply_id,
                "published_at": event.published_at,
                "collected_at": now,
            }
        )
        writes.publish(event, source=EVENT_SOURCE, origin_post_id=post_id)
    writes.insert(Reaction, rows)
    return len(rows)


def watched(since: datetime, channel: str) -> SelectOfScalar[Publication]:
    """The publications on `channel` whose reactions are still watched (published after `since`)."""
    return select(Publication).where(
        col(Publication.status) == PUBLISHED,
        col(Publication.channel) == channel,
        col(Publication.watch_ended).is_(None),
        col(Publication.published_at) >= since,
    )


async def telegram_reactions(session: AsyncSession, rows: Sequence[Mapping[str, Any]], *, watch: timedelta) -> int:
    """The ingest hook: the Telegram messages among the posts rows being stored that react to a
    published reply, queued in the same transaction (Ingestor retries it if another writer raced)."""
    answers = [r for r in rows if r["source_type"] == "telegram" and r.get("parent_external_id")]
    if not answers:
        return 0
    parents = {str(r["parent_external_id"]) for r in answers}
    message_ids = {p.rpartition("_")[2] for p in parents}
    query = watched(utcnow() - watch, "telegram").where(
        or_(
            col(Publication.external_id).in_(parents),
            col(Publication.published_id).in_(message_ids),
        )
    )
    publications = list((await session.exec(query)).all())
    if not publications:
        return 0
    post_ids = list({p.post_id for p in publications})
    authors = dict((await session.exec(select(Post.id, Post.author_id).where(col(Post.id).in_(post_ids)))).all())
    found = []
    for row in answers:
        publication = telegram_match(row, publications, watch=watch)
        if publication is None:
            continue
        event = reaction(
            publication,
            source_type="telegram",
            external_id=str(row["external_id"]),
            url=row.get("url"),
            author_id=row.get("author_id"),
            complainant=authors.get(publication.post_id),
            text=str(row["text"]),
            published_at=row["published_at"],
        )
        found.append((event, publication.post_id))
    assert isinstance(session, WorkSession)
    return await record_reactions(session, found)


def telegram_hook(settings: Settings) -> Callable[[AsyncSession, Sequence[Mapping[str, Any]]], Awaitable[int]]:
    """`Ingestor`'s hook with the configured watch period."""
    watch = timedelta(hours=settings.reaction_watch_hours)

    async def hook(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> int:
        return await telegram_reactions(session, rows, watch=watch)

    return hook
