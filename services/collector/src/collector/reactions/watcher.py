"""`Watcher`: reads the VK comments under each published reply still watched (wall.getComments) and
publishes the reactions among them; Telegram's come with ingest (collector.reactions.service)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from collector.config import Settings
from collector.connectors import ConnectorError, RateLimiter, VkConnector
from collector.connectors.vk import VkError
from collector.models import PUBLICATIONS, Post, Publication, Source
from collector.publishing.decisions import VK_PASSING, Outcome, VkTarget, plan
from collector.reactions.decisions import vk_reactions
from collector.reactions.service import record_reactions, watched
from collector.sources.secrets import reveal_settings
from incidents_common.db import Database, utcnow
from incidents_common.secretbox import SecretBoxError

log = logging.getLogger("collector.reactions")

PAGE = 100  # wall.getComments' largest `count`
THREAD_ITEMS = 10  # wall.getComments' largest `thread_items_count`
MAX_PAGES = 20  # per thread and poll: 2,000 comments under one reply is more than a complaint gets


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
                posts = {p.id: p for p in (await session.exec(select(Post).where(col(Post.id).in_(post_ids)))).all()}
                source_ids = list({p.source_id for p in posts.values() if p.source_id})
                sources = {
                    s.id: s for s in (await session.exec(select(Source).where(col(Source.id).in_(source_ids)))).all()
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
