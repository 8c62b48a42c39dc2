"""`Publisher`: the loop that takes due publications, claims each (`sending`, committed), calls VK or
Telegram once and records the outcome with its ReplyPublication (see collector.publishing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, update
from sqlmodel import col, select

from collector.config import Settings
from collector.connectors import ConnectorError, MaybeDelivered, RateLimiter, TelegramConnector, VkConnector
from collector.connectors.telegram import TelegramError
from collector.connectors.vk import VkError
from collector.models import PUBLICATIONS, Post, Publication, Source
from collector.publishing.decisions import (
    CHANNEL_NAMES,
    NO_ANSWER_REASON,
    PENDING,
    UNCONFIRMED_REASON,
    Outcome,
    TelegramTarget,
    VkTarget,
    announce,
    plan,
    settle,
    telegram_outcome,
    telegram_refusal,
    vk_outcome,
    vk_refusal,
)
from collector.sources.secrets import reveal_settings
from incidents_common.db import Database, utcnow
from incidents_common.events import PublicationStatus
from incidents_common.secretbox import SecretBoxError
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS

log = logging.getLogger("collector.publishing")

SENDING = "sending"  # the collector's own state: the call is under way (or was, when the collector stopped)
BATCH = 100  # due rows taken per pass


@dataclass(frozen=True)
class Call:
    """A publication that goes out: where, and with which source (its settings with secrets revealed)."""

    channel: str
    target: VkTarget | TelegramTarget
    source: Source
    settings: dict[str, Any] = field(repr=False)
    limiter: RateLimiter | None = None


class Publisher:
    """Takes due publications and publishes each (see the module docstring); started and stopped with
    the app, woken when a consumer batch stored new ones."""

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
        self.http: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # A row in `sending` longer than this is no call in flight (one is bounded by the HTTP timeout).
        self.stale_after = timedelta(seconds=max(60.0, 2 * settings.http_timeout + 10))

    async def start(self) -> None:
        self._stopping = False
        # A reply sent on a connection the network's server is closing gets no answer, and whether it
        # was posted is then unknown: idle connections are dropped before common servers drop them.
        self.http = httpx.AsyncClient(
            timeout=self.settings.http_timeout, limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS)
        )
        self._task = asyncio.create_task(self._loop(), name="collector-publisher")

    async def stop(self) -> None:
        """Finish the call under way (so that no message is left unconfirmed by a plain restart), then stop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            _, running = await asyncio.wait({task}, timeout=self.settings.http_timeout + 2)
            if running:
                task.cancel()  # a row left `sending` is recovered at the next start
                await asyncio.wait({task})
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    def wake(self) -> None:
        """Look for due publications now (new ones were stored)."""
        self._wake.set()

    async def _loop(self) -> None:
        recovered = False
        while not self._stopping:
            self._wake.clear()
            delay = self.settings.publish_interval
            try:
                await self.recover(everything=not recovered)
                recovered = True
                delay = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive database hiccups
                log.warning("publisher pass failed", extra={"error": repr(exc)})
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def run_due(self) -> float:
        """Publish every due publication (up to BATCH); returns seconds until the next is due."""
        now = utcnow()
        async with self.db.sessions() as session:
            query = (
                select(Publication)
                .where(col(Publication.status) == PENDING, col(Publication.next_attempt_at) <= now)
                .order_by(col(Publication.next_attempt_at))
                .limit(BATCH)
            )
            due = list((await session.exec(query)).all())
        for publication in due:
            if self._stopping:
                return 0.0
            await self.publish(publication)
        if len(due) == BATCH:
            return 0.0
        async with self.db.sessions() as session:
            earliest = select(func.min(Publication.next_attempt_at)).where(Publication.status == PENDING)
            upcoming = (await session.exec(earliest)).one_or_none()
        if upcoming is None:
            return self.settings.publish_interval
        return min(self.settings.publish_interval, max(0.05, (upcoming - utcnow()).total_seconds()))

    async def publish(self, publication: Publication) -> None:
        """Publish one pending publication and record what came of it."""
        async with self.db.sessions() as session:
            post = await session.get(Post, publication.post_id)
            source = await session.get(Source, post.source_id) if post is not None and post.source_id else None
        decided = plan(post, source)
        if isinstance(decided, Outcome):
            await self._record(publication, decided, attempts=publication.attempts, expect=PENDING)
            return
        channel, target = decided
        assert source is not None
        try:
            settings = reveal_settings(self.settings.secret_box(), source.settings)
        except SecretBoxError:
            # The key that sealed the token is not configured: nothing to answer with until it is.
            reason = f"the {CHANNEL_NAMES[channel]} source's token cannot be decrypted (its key is not configured)"
            failed = Outcome(PublicationStatus.failed, channel, reason=reason)
            await self._record(publication, failed, attempts=publication.attempts, expect=PENDING)
            return
        call = Call(channel, target, source, settings, self.limiter_for(source))
        attempts = await self._claim(publication, channel)
        if attempts is None:
            return  # taken by someone else meanwhile
        outcome = await self._call(publication, call)
        await self._record(publication, outcome, attempts=attempts, expect=SENDING)

    async def _claim(self, publication: Publication, channel: str) -> int | None:
        """Mark the row `sending` (one more attempt) and commit, before the call; None if it is not pending."""
        attempts = publication.attempts + 1
        async with self.db.transaction() as session:
            result = await (await session.connection()).execute(
                update(PUBLICATIONS)
                .where(
                    PUBLICATIONS.c.reply_id == publication.reply_id,
                    PUBLICATIONS.c.status == PENDING,
                    PUBLICATIONS.c.attempts == publication.attempts,
                )
                .values(status=SENDING, channel=channel, attempts=attempts, updated_at=utcnow())
            )
        return attempts if result.rowcount == 1 else None

    async def _call(self, publication: Publication, call: Call) -> Outcome:
        """The one call to the source, and what its answer means; never raises (but for cancellation)."""
        assert self.http is not None
        connection: dict[str, Any] = {
            "source_id": call.source.id,
            "settings": call.settings,
            "cursors": {},
            "http": self.http,
            "config": self.settings,
            "limiter": call.limiter,
        }
        try:
            if isinstance(call.target, VkTarget):
                params = call.target.params(text=publication.text, guid=publication.reply_id)
                response = await VkConnector(**connection).call_once("wall.createComment", **params)
                return vk_outcome(call.target, response)
            result = await TelegramConnector(**connection).request(
                "sendMessage", call.target.params(text=publication.text)
            )
            return telegram_outcome(call.target, result)
        except VkError as exc:
            return vk_refusal(exc)
        except TelegramError as exc:
            return telegram_refusal(exc)
        except MaybeDelivered as exc:
            if call.channel == "telegram":
                return Outcome(PublicationStatus.unconfirmed, "telegram", reason=NO_ANSWER_REASON)
            return Outcome(PublicationStatus.pending, call.channel, reason=str(exc), retry=True)
        except ConnectorError as exc:
            return Outcome(PublicationStatus.pending, call.channel, reason=str(exc), retry=True)
        except Exception:  # noqa: BLE001 - a bug must not leave the row in `sending` for ever
            log.exception("publishing crashed", extra={"reply_id": publication.reply_id})
            if call.channel == "telegram":
                return Outcome(PublicationStatus.unconfirmed, "telegram", reason=UNCONFIRMED_REASON)
            return Outcome(
                PublicationStatus.pending, call.channel, reason="an internal error interrupted the call", retry=True
            )

    async def _record(self, publication: Publication, outcome: Outcome, *, attempts: int, expect: str) -> None:
        """Write the outcome, and for a final one its ReplyPublication, in one transaction; nothing if the
        row left the state `expect` meanwhile."""
        now = utcnow()
        settled = settle(
            outcome,
            attempts=attempts,
            now=now,
            max_attempts=self.settings.publish_max_attempts,
            backoff=self.settings.publish_backoff,
        )
        async with self.db.transaction() as session:
            result = await (await session.connection()).execute(
                update(PUBLICATIONS)
                .where(
                    PUBLICATIONS.c.reply_id == publication.reply_id,
                    PUBLICATIONS.c.status == expect,
                    PUBLICATIONS.c.attempts == attempts,
                )
                .values(
                    status=settled.status,
                    channel=outcome.channel,
                    next_attempt_at=settled.next_attempt_at,
                    url=outcome.url,
                    published_id=outcome.published_id,
                    reason=settled.reason,
                    error_code=outcome.error_code,
                    updated_at=now,
                    # The watch of the citizens' reactions starts here (collector.reactions).
                    published_at=now if settled.status == PublicationStatus.published.value else None,
                )
            )
            if result.rowcount != 1:
                return
            if settled.final:
                announce(session.writes, publication, outcome, settled, attempts=attempts, now=now)
        level = logging.WARNING if settled.status == PublicationStatus.failed.value else logging.INFO
        log.log(
            level,
            "reply publication",
            extra={
                "reply_id": publication.reply_id,
                "status": settled.status,
                "channel": outcome.channel,
                "attempts": attempts,
                "error_code": outcome.error_code,
            },
        )

    async def recover(self, *, everything: bool = False) -> int:
        """Rows left in `sending` by a crash between a call and its record: all of them (`everything`, at
        start) or those older than `stale_after`. VK: pending again, due now (the same guid is sent);
        Telegram: unconfirmed. Returns how many were recovered."""
        now = utcnow()
        query = select(Publication).where(Publication.status == SENDING)
        if not everything:
            query = query.where(Publication.updated_at < now - self.stale_after)
        async with self.db.sessions() as session:
            rows = list((await session.exec(query)).all())
        for row in rows:
            log.warning(
                "reply left sending by a stop",
                extra={"reply_id": row.reply_id, "channel": row.channel, "attempts": row.attempts},
            )
            if row.channel == "telegram":
                unconfirmed = Outcome(PublicationStatus.unconfirmed, "telegram", reason=UNCONFIRMED_REASON)
                await self._record(row, unconfirmed, attempts=row.attempts, expect=SENDING)
            else:
                await self._resend(row, now=now)
        return len(rows)

    async def _resend(self, row: Publication, *, now: datetime) -> None:
        """Back to pending, due now, its attempts kept: the next pass calls VK with the same guid."""
        async with self.db.transaction() as session:
            await (await session.connection()).execute(
                update(PUBLICATIONS)
                .where(
                    PUBLICATIONS.c.reply_id == row.reply_id,
                    PUBLICATIONS.c.status == SENDING,
                    PUBLICATIONS.c.attempts == row.attempts,
                )
                .values(status=PENDING, next_attempt_at=now, updated_at=now)
            )
