"""The reply publisher's decisions, pure functions: where a reply goes (`plan`), what an answer or a
refusal of VK or Telegram means (`vk_outcome`, `vk_refusal`, `telegram_outcome`, `telegram_refusal`),
the row's next state (`settle`) and the ReplyPublication of a final one (`announce`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector import EVENT_SOURCE
from collector.connectors.telegram import TelegramError
from collector.connectors.vk import VkError
from collector.models import Post, Publication, Source
from incidents_common.db import Writes
from incidents_common.events import PublicationStatus, ReplyKind, ReplyPublication

PENDING = PublicationStatus.pending.value

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
CHANNEL_NAMES = {"vk": "VK", "telegram": "Telegram"}


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
    name = CHANNEL_NAMES.get(kind)
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
