"""Publishes officials' replies where the complaints were: a comment under the VK post, a Telegram reply
to the message (issue 14). Routing asks with ReplyRequested; collector.consumers stores a pending
publication; this loop publishes the due ones and records each outcome with its ReplyPublication
event in one transaction (the outbox).

Never twice. Before a call the row is marked `sending` (attempts + 1) and committed; after it the
outcome is recorded. A row found in `sending` when the loop starts, or at a later pass once older than
the longest a call can take, is a crash between a call and its record: VK is called again with the same
`guid` (VK's documented guard: the comment already made is returned, no second one), a Telegram message
(the Bot API has no idempotency key) becomes `unconfirmed` and is never sent again. For the same reason
a Telegram call that may have reached Telegram and got no answer (a read timeout) is `unconfirmed`, not
retried; VK's are retried.

The decisions (where a reply goes, what an answer means) are pure functions; `Publisher` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, update
from sqlmodel import select

from collector.config import Settings
from collector.connectors import ConnectorError, MaybeDelivered, RateLimiter, TelegramConnector, VkConnector
from collector.connectors.telegram import TelegramError
from collector.connectors.vk import VkError
from collector.models import Post, Publication, Source
from collector.service import EVENT_SOURCE, reveal_settings
from incidents_common.db import Database, Writes, utcnow
from incidents_common.events import PublicationStatus, ReplyKind, ReplyPublication
from incidents_common.secretbox import SecretBoxError

log = logging.getLogger("collector.publishing")

PENDING = PublicationStatus.pending.value
SENDING = "sending"  # the collector's own state: the call is under way (or was, when the collector stopped)
PUBLICATIONS = Publication.__table__  # type: ignore[attr-defined]
BATCH = 100  # due rows taken per pass

# VK error codes (dev.vk.com/ru/reference/errors) that no retry can change, and what the official can do.
VK_REFUSALS: dict[int, str] = {
    5: "the community's VK token was revoked or has expired (VK error 5); update the source's token and publish again",
    15: (
        "VK denied access to the post (VK error 15): the source's token may not comment there; check the "
        "community's rights and publish again"
    ),
    18: "the VK page of the complaint was deleted or blocked (VK error 18); the reply cannot be posted there",
    100: (
        "VK rejected the comment (VK error 100: a parameter is invalid): the complaint's post was probably "
        "deleted; answer the author another way"
    ),
    212: "access to the VK post's comments is denied (VK error 212); answer the author another way",
    213: "comments on the VK post are closed (VK error 213); answer the author another way",
}
# Passing VK failures: retried with back-off.
VK_PASSING: dict[int, str] = {
    6: "VK had too many requests per second (VK error 6)",
    9: "VK flood control (VK error 9)",
    10: "VK had an internal error (VK error 10)",
    29: "VK's rate limit for the token is reached (VK error 29)",
}

UNCONFIRMED_REASON = (
    "the collector stopped while sending; the message may already be in the chat — check it before publishing again"
)
NO_ANSWER_REASON = (
    "Telegram did not answer the sending; the message may already be in the chat — check it before publishing again"
)

_VK_ID = re.compile(r"^(-?\d+)_(\d+)(?:_c(\d+))?$")  # a post "<owner>_<post>", a comment "<owner>_<post>_c<id>"
_TELEGRAM_ID = re.compile(r"^(-?\d+)_(\d+)$")  # "<chat_id>_<message_id>"
_TELEGRAM_URL = re.compile(r"^https://t\.me/([A-Za-z0-9_]+)/\d+$")  # a public chat's message link

# Why a reply to a post of these kinds is only recorded.
_NO_WAY_BACK = {
    "push": "the complaint came by HTTP push: there is no way back to its author; the reply is only recorded",
    "import": "the complaint was imported from a file: there is no way back to its author; the reply is only recorded",
    "rss": "the complaint came from an RSS/Atom feed, which takes no replies; the reply is only recorded",
}
_NAMES = {"vk": "VK", "telegram": "Telegram"}


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What came of a publication, or of one call for it. `retry`: a passing failure, to be tried again
    after `retry_after` seconds (None: the back-off schedule), unless the attempts are spent."""

    status: PublicationStatus
    channel: str
    reason: str | None = None
    error_code: str | None = None
    url: str | None = None
    published_id: str | None = None
    retry: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class VkTarget:
    owner_id: int
    post_id: int
    comment_id: int | None  # the complaint is a comment: answer under the post, to that comment

    def params(self, *, text: str, guid: str) -> dict[str, Any]:
        """wall.createComment's parameters; `guid` makes a repeated call return the comment made."""
        params: dict[str, Any] = {"owner_id": self.owner_id, "post_id": self.post_id, "message": text, "guid": guid}
        if self.comment_id is not None:
            params["reply_to_comment"] = self.comment_id
        if self.owner_id < 0:
            params["from_group"] = -self.owner_id  # a community's wall: answer as the community
        return params

    def url(self, comment_id: int) -> str:
        return f"https://vk.com/wall{self.owner_id}_{self.post_id}?reply={comment_id}"


@dataclass(frozen=True)
class TelegramTarget:
    chat_id: int
    message_id: int
    username: str | None  # a public chat's: its messages have links

    def params(self, *, text: str) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "text": text,
            "reply_parameters": {"message_id": self.message_id, "allow_sending_without_reply": False},
        }

    def url(self, message_id: int) -> str | None:
        return f"https://t.me/{self.username}/{message_id}" if self.username else None


@dataclass(frozen=True)
class Call:
    """A publication that goes out: where, and with which source (its settings with secrets revealed)."""

    channel: str
    target: VkTarget | TelegramTarget
    source: Source
    settings: dict[str, Any] = field(repr=False)
    limiter: RateLimiter | None = None


def recorded_only(reason: str) -> Outcome:
    return Outcome(PublicationStatus.recorded_only, "none", reason=reason)


def plan(post: Post | None, source: Source | None) -> Outcome | tuple[str, VkTarget | TelegramTarget]:
    """Where the reply to `post` goes (its channel and target), or the outcome when it goes nowhere:
    recorded only (no way back to the author, or no credentials to answer with) or failed."""
    if post is None:
        return recorded_only(
            "the complaint's post is no longer stored by the collector (retention): there is no way back to its "
            "author; the reply is only recorded"
        )
    kind = post.source_type
    if kind in _NO_WAY_BACK:
        return recorded_only(_NO_WAY_BACK[kind])
    name = _NAMES.get(kind)
    if name is None:
        return recorded_only(
            f"the complaint came from a {kind} source, which takes no replies; the reply is only recorded"
        )
    if source is None or source.type != kind:
        return recorded_only(
            f"the {name} complaint did not come through a {name} source of the collector (it was pushed, or its source "
            "was deleted): there are no credentials to answer with; the reply is only recorded"
        )
    if not source.settings.get("token"):
        return recorded_only(
            f"the {name} source {source.name!r} has no token to answer with; the reply is only recorded"
        )
    if kind == "vk":
        vk = _VK_ID.match(post.external_id)
        if vk is None:
            return Outcome(
                PublicationStatus.failed,
                "vk",
                reason=f"the complaint's VK id {post.external_id!r} names no wall post or comment to answer under",
            )
        owner, post_id, comment = vk.groups()
        return "vk", VkTarget(int(owner), int(post_id), int(comment) if comment else None)
    telegram = _TELEGRAM_ID.match(post.external_id)
    if telegram is None:
        return Outcome(
            PublicationStatus.failed,
            "telegram",
            reason=f"the complaint's Telegram id {post.external_id!r} names no message to reply to",
        )
    link = _TELEGRAM_URL.match(post.url or "")
    return "telegram", TelegramTarget(int(telegram[1]), int(telegram[2]), link[1] if link else None)


def vk_outcome(target: VkTarget, response: Any) -> Outcome:
    """wall.createComment answered `{"response": {"comment_id": N}}`."""
    comment_id = response.get("comment_id") if isinstance(response, dict) else None
    if not isinstance(comment_id, int):
        # A retry is safe (the guid): ask again rather than record a comment without its link.
        return Outcome(PublicationStatus.pending, "vk", reason="VK answered without the comment's id", retry=True)
    return Outcome(PublicationStatus.published, "vk", url=target.url(comment_id), published_id=str(comment_id))


def vk_refusal(exc: VkError) -> Outcome:
    """What a VK error means for a comment: refused for good, or a passing failure."""
    code = f"vk:{exc.code}"
    if exc.code in VK_PASSING:
        return Outcome(PublicationStatus.pending, "vk", reason=VK_PASSING[exc.code], error_code=code, retry=True)
    reason = VK_REFUSALS.get(exc.code) or f"VK refused the comment (VK error {exc.code}: {exc.message})"
    return Outcome(PublicationStatus.failed, "vk", reason=reason, error_code=code)


def telegram_outcome(target: TelegramTarget, result: Any) -> Outcome:
    """sendMessage answered `{"ok": true, "result": <Message>}`."""
    message_id = result.get("message_id") if isinstance(result, dict) else None
    if not isinstance(message_id, int):
        return Outcome(PublicationStatus.published, "telegram")  # sent: Telegram said ok, without the id
    return Outcome(PublicationStatus.published, "telegram", url=target.url(message_id), published_id=str(message_id))


def telegram_refusal(exc: TelegramError) -> Outcome:
    """What a Bot API error means for a message: refused for good, or a passing failure."""
    code = f"telegram:{exc.code}"
    description = exc.description.lower()
    if exc.code == 429:
        return Outcome(
            PublicationStatus.pending,
            "telegram",
            reason=f"Telegram asked to slow down (429: {exc.description})",
            error_code=code,
            retry=True,
            retry_after=exc.retry_after,
        )
    if exc.code >= 500:
        return Outcome(
            PublicationStatus.pending,
            "telegram",
            reason=f"Telegram failed ({exc.code}: {exc.description})",
            error_code=code,
            retry=True,
        )
    if exc.code == 403:
        reason = (
            f"the bot was blocked or removed from the Telegram chat (403: {exc.description}); add the bot back and "
            "publish again"
        )
    elif "message to be replied not found" in description:
        reason = "the message answered was deleted from the Telegram chat; the reply cannot be posted under it"
    elif "chat not found" in description:
        reason = "the Telegram chat was not found (deleted, or the bot is no longer in it); the reply cannot be posted"
    elif exc.code in (401, 404):
        reason = f"Telegram rejected the source's bot token ({exc.code}); update the source's token and publish again"
    else:
        reason = f"Telegram refused the message ({exc.code}: {exc.description})"
    return Outcome(PublicationStatus.failed, "telegram", reason=reason, error_code=code)


@dataclass(frozen=True)
class Settled:
    """The row's next state after an outcome: a final status (an event goes out), or pending again."""

    status: str
    next_attempt_at: datetime | None
    reason: str | None

    @property
    def final(self) -> bool:
        return self.status != PENDING


def settle(outcome: Outcome, *, attempts: int, now: datetime, max_attempts: int, backoff: list[float]) -> Settled:
    """A passing failure is tried again after the back-off (or the source's retry_after) until
    `max_attempts` calls were made; then it is failed, with the last error as the reason."""
    if not outcome.retry:
        return Settled(str(outcome.status), None, outcome.reason)
    if attempts >= max_attempts:
        return Settled(PublicationStatus.failed.value, None, f"{outcome.reason}; gave up after {attempts} attempts")
    delay = outcome.retry_after if outcome.retry_after is not None else backoff[min(attempts, len(backoff)) - 1]
    return Settled(PENDING, now + timedelta(seconds=max(delay, 0.0)), outcome.reason)


def announce(
    writes: Writes, publication: Publication, outcome: Outcome, settled: Settled, *, attempts: int, now: datetime
) -> None:
    """Queue the ReplyPublication of a final outcome in the outbox of the transaction recording it."""
    writes.publish(
        ReplyPublication(
            reply_id=publication.reply_id,
            incident_id=publication.incident_id,
            region_code=publication.region_code,
            kind=ReplyKind(publication.kind),
            status=PublicationStatus(settled.status),
            channel=outcome.channel,
            url=outcome.url,
            published_id=outcome.published_id,
            reason=settled.reason,
            error_code=outcome.error_code,
            attempts=attempts,
            at=now,
        ),
        source=EVENT_SOURCE,
        origin_post_id=publication.post_id,
    )


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


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
        self.http = httpx.AsyncClient(timeout=self.settings.http_timeout)
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
                .where(Publication.status == PENDING, Publication.next_attempt_at <= now)  # type: ignore[operator]
                .order_by(Publication.next_attempt_at)  # type: ignore[arg-type]
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
        if upcoming.tzinfo is None:  # SQLite gives back naive UTC
            upcoming = upcoming.replace(tzinfo=now.tzinfo)
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
            reason = f"the {_NAMES[channel]} source's token cannot be decrypted (its key is not configured)"
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
