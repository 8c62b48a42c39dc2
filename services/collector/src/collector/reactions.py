"""Citizens' reactions to published replies (issue 14): every comment or message written in the
complaint's thread after an official's reply went out there, within `reaction_watch_hours`, becomes one
ReactionCollected (outbox, `incidents.v1.reaction.collected.<region>`).

VK is read: `Watcher` calls wall.getComments on the complaint's post every `reaction_poll_seconds`, for
each VK publication still watched, with the source's token and its rate limiter. Telegram is not: the
messages come in anyway (webhook or getUpdates), and `telegram_reactions` runs inside the ingest
transaction for those that answer the bot's reply or the complaint message.

Once each: the `reactions` table keys what was published (reaction_id "<source_type>:<external_id>"),
written with its events in one transaction. The decisions are pure functions; `Watcher` does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.config import Settings
from collector.connectors import ConnectorError, RateLimiter, VkConnector
from collector.connectors.vk import VkError
from collector.models import Post, Publication, Reaction, Source
from collector.publishing import VK_PASSING, Outcome, VkTarget, plan
from collector.service import EVENT_SOURCE, reveal_settings
from incidents_common.db import Database, WorkSession, utcnow, writes_of
from incidents_common.events import PublicationStatus, ReactionCollected, SourceType
from incidents_common.secretbox import SecretBoxError

log = logging.getLogger("collector.reactions")

PUBLISHED = PublicationStatus.published.value
PUBLICATIONS = Publication.__table__  # type: ignore[attr-defined]
PAGE = 100  # wall.getComments' largest `count`
THREAD_ITEMS = 10  # wall.getComments' largest `thread_items_count`
MAX_PAGES = 20  # per thread and poll: 2,000 comments under one reply is more than a complaint gets
MAX_TEXT = 20_000  # ReactionCollected.text


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite gives back naive UTC


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


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
    written = _aware(row["published_at"])
    best: Publication | None = None
    for publication in publications:
        if publication.published_at is None:
            continue
        published_at = _aware(publication.published_at)
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
        if best is None or published_at > _aware(best.published_at or published_at):
            best = publication
    return best


# ---------------------------------------------------------------------------------------------
# Storing: once each
# ---------------------------------------------------------------------------------------------


async def record_reactions(session: WorkSession, found: Sequence[tuple[ReactionCollected, str]]) -> int:
    """Queue the reactions not published yet (each with its complaint's post id) and their keys in the
    session's transaction; returns how many. A concurrent writer of the same key fails the commit."""
    if not found:
        return 0
    ids = list({r.reaction_id for r, _ in found})
    query = select(Reaction.reaction_id).where(Reaction.reaction_id.in_(ids))  # type: ignore[attr-defined]
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


def watched(since: datetime, channel: str) -> Any:
    """The publications on `channel` whose reactions are still watched (published after `since`)."""
    return select(Publication).where(
        Publication.status == PUBLISHED,
        Publication.channel == channel,
        Publication.watch_ended.is_(None),  # type: ignore[union-attr]
        Publication.published_at >= since,  # type: ignore[operator]
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
            Publication.external_id.in_(parents),  # type: ignore[attr-defined]
            Publication.published_id.in_(message_ids),  # type: ignore[union-attr]
        )
    )
    publications = list((await session.exec(query)).all())
    if not publications:
        return 0
    post_ids = list({p.post_id for p in publications})
    authors = dict(
        (await session.exec(select(Post.id, Post.author_id).where(Post.id.in_(post_ids)))).all()  # type: ignore[attr-defined]
    )
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
            published_at=_aware(row["published_at"]),
        )
        found.append((event, publication.post_id))
    assert isinstance(session, WorkSession)
    return await record_reactions(session, found)


def telegram_hook(settings: Settings) -> Callable[[AsyncSession, Sequence[Mapping[str, Any]]], Any]:
    """`Ingestor`'s hook with the configured watch period."""
    watch = timedelta(hours=settings.reaction_watch_hours)

    async def hook(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> int:
        return await telegram_reactions(session, rows, watch=watch)

    return hook


# ---------------------------------------------------------------------------------------------
# VK: the loop
# ---------------------------------------------------------------------------------------------


async def read_vk_comments(connector: VkConnector, target: VkTarget, official: int) -> list[dict[str, Any]]:
    """The comments under the reply, from the reply on, with their threads (VkError, ConnectorError as
    they come). A reply to a post is a top-level comment: the post's comments from it on, and their
    thread items (replies to the official's comment among them); a reply to a comment is in that
    comment's thread: the thread from it on. A thread longer than the items VK sends along is read
    through on its own."""
    root = target.comment_id
    comments: list[dict[str, Any]] = []
    for number in range(MAX_PAGES):
        response = await connector.call_once(
            "wall.getComments",
            owner_id=target.owner_id,
            post_id=target.post_id,
            comment_id=root,
            start_comment_id=official,
            offset=number * PAGE,
            count=PAGE,
            sort="asc",
            extended=1,
            thread_items_count=THREAD_ITEMS if root is None else None,
        )
        items = [i for i in response.get("items", []) or [] if isinstance(i, dict)]
        for item in items:
            comments.append(item)
            thread = item.get("thread") or {}
            thread_items = [t for t in thread.get("items", []) or [] if isinstance(t, dict)]
            comments.extend(thread_items)
            if root is None and int(thread.get("count") or 0) > len(thread_items):
                comments.extend(await _read_thread(connector, target, int(item["id"])))
        if len(items) < PAGE:
            break
    return comments


async def _read_thread(connector: VkConnector, target: VkTarget, comment_id: int) -> list[dict[str, Any]]:
    comments: list[dict[str, Any]] = []
    for number in range(MAX_PAGES):
        response = await connector.call_once(
            "wall.getComments",
            owner_id=target.owner_id,
            post_id=target.post_id,
            comment_id=comment_id,
            offset=number * PAGE,
            count=PAGE,
            sort="asc",
            extended=1,
        )
        items = [i for i in response.get("items", []) or [] if isinstance(i, dict)]
        comments.extend(items)
        if len(items) < PAGE:
            break
    return comments


class Watcher:
    """Reads the VK comments under each published reply still watched, every `reaction_poll_seconds`;
    started and stopped with the app. A refusal from VK (the post deleted: 15, 18, 212; the token: 5;
    any code but the passing ones) ends that publication's watch; passing failures (6, 9, 10, 29, HTTP
    5xx, no answer) wait for the next poll."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        limiter_for: Callable[[Source], RateLimiter | None] = lambda _source: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.limiter_for = limiter_for
        self.watch = timedelta(hours=settings.reaction_watch_hours)
        self.http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one poll at a time (the loop's, or a test's)

    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=self.settings.http_timeout)
        self._task = asyncio.create_task(self._loop(), name="collector-reaction-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive database hiccups
                log.warning("reaction poll failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.reaction_poll_seconds)

    async def poll(self) -> int:
        """One read of every VK publication still watched; returns the reactions published."""
        async with self._lock:
            async with self.db.sessions() as session:
                publications = list((await session.exec(watched(utcnow() - self.watch, "vk"))).all())
                post_ids = list({p.post_id for p in publications})
                posts = {p.id: p for p in (await session.exec(select(Post).where(Post.id.in_(post_ids)))).all()}  # type: ignore[attr-defined]
                source_ids = list({p.source_id for p in posts.values() if p.source_id})
                sources = {
                    s.id: s
                    for s in (await session.exec(select(Source).where(Source.id.in_(source_ids)))).all()  # type: ignore[attr-defined]
                }
            collected = 0
            for publication in publications:
                post = posts.get(publication.post_id)
                source = sources.get(post.source_id) if post is not None and post.source_id else None
                collected += await self._watch_vk(publication, post, source)
            return collected

    async def _watch_vk(self, publication: Publication, post: Post | None, source: Source | None) -> int:
        decided = plan(post, source)
        if isinstance(decided, Outcome):  # the post or its source is gone: nothing to read with
            await self.end(publication, decided.reason or "the complaint's VK post can no longer be read")
            return 0
        _, target = decided
        if not isinstance(target, VkTarget) or not (publication.published_id or "").isdigit():
            await self.end(publication, "the published VK reply has no comment id to read the comments after")
            return 0
        assert source is not None and self.http is not None
        try:
            settings = reveal_settings(self.settings.secret_box(), source.settings)
        except SecretBoxError:
            log.warning("reaction watch: the VK source's token cannot be decrypted", extra={"source_id": source.id})
            return 0
        connector = VkConnector(
            source_id=source.id,
            settings=settings,
            cursors={},
            http=self.http,
            config=self.settings,
            limiter=self.limiter_for(source),
        )
        try:
            comments = await read_vk_comments(connector, target, int(publication.published_id or 0))
        except VkError as exc:
            if exc.code in VK_PASSING:
                log.info(
                    "reaction watch waits", extra={"reply_id": publication.reply_id, "error": VK_PASSING[exc.code]}
                )
                return 0
            await self.end(publication, f"VK error {exc.code}: {exc.message}")
            return 0
        except ConnectorError as exc:
            log.info("reaction watch waits", extra={"reply_id": publication.reply_id, "error": str(exc)})
            return 0
        found = vk_reactions(publication, target, comments, complainant=post.author_id if post else None)
        if not found:
            return 0
        async with self.db.transaction() as session:
            return await record_reactions(session, [(event, publication.post_id) for event in found])

    async def end(self, publication: Publication, reason: str) -> None:
        """Stop watching `publication` for good, saying why."""
        log.warning("reaction watch ended", extra={"reply_id": publication.reply_id, "reason": reason})
        async with self.db.transaction() as session:
            await (await session.connection()).execute(
                update(PUBLICATIONS)
                .where(PUBLICATIONS.c.reply_id == publication.reply_id)
                .values(watch_ended=reason[:2000])
            )
