"""Dead letters: list, show, replay and purge what consumers could not process.

A dead letter is the original message, byte for byte, on `incidents.deadletter.<consumer>` in the
DEADLETTER stream, with headers saying why (`Incidents-Dead-Letter-Reason`), where it came from
(`Incidents-Original-Subject`, `-Stream`, `-Sequence`) and how often it was delivered. It is
identified by its sequence number in DEADLETTER.

- **list / show**: read through an ephemeral push consumer on DEADLETTER whose filter is the
  consumer's dead-letter subject (a service's NATS user may read only its own durables' dead letters,
  docs/nats-security.md); the messages arrive in the reader's own inbox.
- **replay**: publish the original payload to the original subject with `Nats-Msg-Id: replay-<seq>`
  (a fresh id, so the duplicate window does not drop it; replaying the same dead letter twice within
  the window publishes once), then delete the dead letter. Every consumer of that subject receives
  it; those that processed the event already skip it through their inbox, so a replay never doubles
  an effect. If it fails again, it is dead-lettered again.
- **purge**: delete one dead letter, all of a consumer, or those older than N days.

Three ways in: the `DeadLetters` class (a JetStream context and, for a service, its consumers);
the operator's command line `python -m incidents_common.deadletters list|show|replay|purge`; and the
admin API every service mounts, `dead_letter_router()` at `/v1/admin/dead-letters`, limited to that
service's own consumers and to the operator. docs/dead-letters.md is the operator's guide.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import builtins
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import nats.errors
import nats.js.errors
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy
from pydantic import BaseModel, ConfigDict, Field

from incidents_common.events import DEAD_LETTER_ROOT, SUBJECT_ROOT, BadEvent, dead_letter_subject
from incidents_common.identity import PROTECTED, Caller, CallerDep
from incidents_common.nats import (
    DEAD_LETTER_CONSUMER_HEADER,
    DEAD_LETTER_REASON_HEADER,
    DELIVERIES_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_STREAM_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    is_infrastructure_failure,
)
from incidents_common.problems import (
    PROBLEM_MEDIA_TYPE,
    Forbidden,
    NotFound,
    Problem,
    ProblemError,
    ServiceUnavailable,
)

STREAM = "DEADLETTER"
REPLAY_OF_HEADER = "Incidents-Replay-Of"
_PREFIX = f"{DEAD_LETTER_ROOT}."


class DeadLetterNotFound(NotFound):
    slug, title = "dead-letter-not-found", "Dead letter not found"


class UnknownConsumer(NotFound):
    slug, title = "unknown-consumer", "Unknown consumer"


class ReplayRefused(ProblemError):
    status, slug, title = 409, "replay-refused", "Replay refused"


class DeadLettersUnavailable(ServiceUnavailable):
    slug, title = "dead-letters-unavailable", "Dead letters unavailable"


# ---------------------------------------------------------------------------------------------
# One dead letter
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """A message of the DEADLETTER stream, identified by its sequence there."""

    seq: int
    subject: str
    stored_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    @property
    def consumer(self) -> str:
        return self.headers.get(DEAD_LETTER_CONSUMER_HEADER) or self.subject.removeprefix(_PREFIX)

    @property
    def reason(self) -> str:
        return self.headers.get(DEAD_LETTER_REASON_HEADER, "")

    @property
    def original_subject(self) -> str | None:
        return self.headers.get(ORIGINAL_SUBJECT_HEADER) or None

    @property
    def event_id(self) -> str | None:
        return self.headers.get(EVENT_ID_HEADER) or _payload_field(self.data, "id")

    @property
    def event_type(self) -> str | None:
        return self.headers.get(EVENT_TYPE_HEADER) or _payload_field(self.data, "type")

    def age_seconds(self, now: datetime | None = None) -> float:
        return max(((now or datetime.now(UTC)) - self.stored_at).total_seconds(), 0.0)

    def summary(self) -> dict[str, Any]:
        """What a listing shows."""
        original_seq = self.headers.get(ORIGINAL_SEQUENCE_HEADER)
        deliveries = self.headers.get(DELIVERIES_HEADER)
        return {
            "seq": self.seq,
            "consumer": self.consumer,
            "reason": self.reason,
            "original_subject": self.original_subject,
            "original_stream": self.headers.get(ORIGINAL_STREAM_HEADER),
            "original_seq": int(original_seq) if original_seq and original_seq.isdigit() else None,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "deliveries": int(deliveries) if deliveries and deliveries.isdigit() else None,
            "dead_lettered_at": self.stored_at.isoformat(),
            "age_seconds": round(self.age_seconds(), 1),
        }

    def detail(self) -> dict[str, Any]:
        """Everything: the summary, every header and the payload (JSON when it is JSON, else text
        or base64)."""
        payload: Any
        try:
            payload, encoding = orjson.loads(self.data), "json"
        except orjson.JSONDecodeError:
            try:
                payload, encoding = self.data.decode("utf-8"), "text"
            except UnicodeDecodeError:
                payload, encoding = base64.b64encode(self.data).decode("ascii"), "base64"
        return self.summary() | {"headers": dict(self.headers), "payload": payload, "payload_encoding": encoding}


def _payload_field(data: bytes, name: str) -> str | None:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    value = document.get(name) if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def _from_message(msg: Msg) -> DeadLetter:
    metadata = msg.metadata
    headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-Msg-Size")}
    return DeadLetter(
        seq=metadata.sequence.stream,
        subject=msg.subject,
        stored_at=metadata.timestamp,
        headers=headers,
        data=msg.data,
    )


def subject_matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    parts, wanted = subject.split("."), pattern.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(parts) > index
        if index >= len(parts) or (part != "*" and part != parts[index]):
            return False
    return len(parts) == len(wanted)


@dataclass(frozen=True)
class Replayed:
    """A replayed dead letter: where it went, and the new message's sequence in the event stream."""

    seq: int
    consumer: str
    subject: str
    event_id: str | None
    stream: str
    stream_seq: int
    duplicate: bool  # the same replay was published within the duplicate window already

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "consumer": self.consumer,
            "subject": self.subject,
            "event_id": self.event_id,
            "stream": self.stream,
            "stream_seq": self.stream_seq,
            "duplicate": self.duplicate,
        }


# ---------------------------------------------------------------------------------------------
# The operations
# ---------------------------------------------------------------------------------------------


class DeadLetters:
    """The dead letters some consumers may operate on, through a JetStream context.

    `consumers` maps each durable name to its filter subject: a service passes its own consumers
    and sees nothing else (and a replay must go to a subject its consumer reads). None (the
    operator) means every consumer's dead letters, and replays to any event subject.
    """

    def __init__(
        self,
        js: JetStreamContext,
        consumers: Mapping[str, str] | None = None,
        *,
        timeout: float = 5.0,
        appliers: Mapping[str, Callable[[bytes], Awaitable[bool]]] | None = None,
    ) -> None:
        self.js = js
        self.consumers = dict(consumers) if consumers is not None else None
        self.timeout = timeout
        # A service replays in-process through its own consumer (handler + inbox); only the operator
        # republishes to the event subject.
        self.appliers = dict(appliers) if appliers is not None else None

    # --- reading -----------------------------------------------------------------------------

    def _filters(self, consumer: str | None) -> list[str]:
        if consumer is not None:
            self._check_consumer(consumer)
            return [dead_letter_subject(consumer)]
        if self.consumers is None:
            return [f"{DEAD_LETTER_ROOT}.>"]
        return [dead_letter_subject(durable) for durable in self.consumers]

    def _check_consumer(self, consumer: str) -> None:
        if not consumer or any(c in consumer for c in ".*> \t"):
            raise UnknownConsumer(f"{consumer!r} is not a consumer name")
        if self.consumers is not None and consumer not in self.consumers:
            raise UnknownConsumer(
                f"{consumer!r} is not a consumer of this service (its consumers: {sorted(self.consumers)})"
            )

    async def _read(
        self,
        filter_subject: str,
        *,
        start_seq: int | None = None,
        limit: int | None = None,
        headers_only: bool = False,
    ) -> list[DeadLetter]:
        """Messages on `filter_subject` from `start_seq` on (all without it), in order, up to `limit`."""
        nc = self.js._nc  # noqa: SLF001 - the context's client, for an inbox of this user's own
        inbox = nc.new_inbox()
        subscription = await nc.subscribe(inbox)
        config = ConsumerConfig(
            name=f"dl{uuid.uuid4().hex[:20]}",
            filter_subject=filter_subject,
            deliver_subject=inbox,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL,
            opt_start_seq=start_seq if start_seq else None,
            replay_policy=ReplayPolicy.INSTANT,
            inactive_threshold=max(self.timeout, 5.0),  # the server deletes it once nobody listens
            mem_storage=True,
            num_replicas=1,
            headers_only=headers_only or None,
        )
        found: list[DeadLetter] = []
        try:
            try:
                info = await self.js.add_consumer(STREAM, config, timeout=self.timeout)
            except nats.js.errors.NotFoundError:
                return []  # no DEADLETTER stream yet: nothing was ever dead-lettered
            except nats.errors.TimeoutError as exc:
                raise DeadLettersUnavailable(
                    "NATS did not answer the request to read dead letters (down, or this user may not read them)"
                ) from exc
            if info.num_pending == 0 and (info.delivered is None or info.delivered.consumer_seq == 0):
                return []
            while limit is None or len(found) < limit:
                try:
                    msg = await subscription.next_msg(timeout=self.timeout)
                except nats.errors.TimeoutError as exc:
                    raise DeadLettersUnavailable("reading the dead letters stalled") from exc
                found.append(_from_message(msg))
                if msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        return found

    async def list(
        self, consumer: str | None = None, *, after: int = 0, limit: int | None = None, headers_only: bool = False
    ) -> list[DeadLetter]:
        """Dead letters (of `consumer`, or of every consumer in scope) with a sequence above `after`,
        oldest first, at most `limit`."""
        found: list[DeadLetter] = []
        for filter_subject in self._filters(consumer):
            found += await self._read(
                filter_subject, start_seq=after + 1 if after else None, limit=limit, headers_only=headers_only
            )
        found.sort(key=lambda letter: letter.seq)
        return found[:limit] if limit is not None else found

    async def get(self, seq: int) -> DeadLetter:
        """One dead letter by its sequence; DeadLetterNotFound if there is none in scope."""
        if seq < 1:
            raise DeadLetterNotFound(f"no dead letter {seq}")
        for filter_subject in self._filters(None):
            letters = await self._read(filter_subject, start_seq=seq, limit=1)
            if letters and letters[0].seq == seq:
                return letters[0]
        raise DeadLetterNotFound(f"no dead letter {seq}" + ("" if self.consumers is None else " of this service"))

    # --- replay and purge ----------------------------------------------------------------------

    def _replay_subject(self, letter: DeadLetter) -> str:
        subject = letter.original_subject
        if not subject:
            raise ReplayRefused(f"dead letter {letter.seq} has no original subject")
        if not subject.startswith(f"{SUBJECT_ROOT}."):
            raise ReplayRefused(f"dead letter {letter.seq} came from {subject!r}, not an event subject")
        if self.consumers is not None:
            filter_subject = self.consumers.get(letter.consumer)
            if filter_subject is None or not subject_matches(subject, filter_subject):
                raise ReplayRefused(f"dead letter {letter.seq}: {subject!r} is not read by {letter.consumer!r}")
        return subject

    async def replay_letter(self, letter: DeadLetter) -> Replayed:
        """Publish `letter`'s payload to its original subject (`Nats-Msg-Id: replay-<seq>`), then delete it."""
        subject = self._replay_subject(letter)
        if self.appliers is not None:
            apply = self.appliers.get(letter.consumer)
            if apply is None:
                raise ReplayRefused(f"dead letter {letter.seq}: {letter.consumer!r} is not a consumer of this service")
            try:
                applied = await apply(letter.data)
            except BadEvent as exc:
                raise ReplayRefused(f"dead letter {letter.seq} is not a valid event: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - the handler's own failure: the dead letter stays
                if is_infrastructure_failure(exc):
                    raise DeadLettersUnavailable(f"the database is unavailable: {exc.__class__.__name__}") from exc
                raise ReplayRefused(f"dead letter {letter.seq} failed again: {exc!r}"[:500]) from exc
            await self._delete(letter.seq)
            return Replayed(
                seq=letter.seq,
                consumer=letter.consumer,
                subject=subject,
                event_id=letter.event_id,
                stream="",  # applied in-process, not republished
                stream_seq=0,
                duplicate=not applied,
            )
        headers = {"Nats-Msg-Id": f"replay-{letter.seq}", REPLAY_OF_HEADER: str(letter.seq)}
        try:
            ack = await self.js.publish(subject, letter.data, headers=headers, timeout=self.timeout)
        except nats.errors.TimeoutError as exc:
            raise DeadLettersUnavailable(f"NATS did not acknowledge the replay to {subject}") from exc
        await self._delete(letter.seq)
        return Replayed(
            seq=letter.seq,
            consumer=letter.consumer,
            subject=subject,
            event_id=letter.event_id,
            stream=ack.stream,
            stream_seq=ack.seq,
            duplicate=bool(ack.duplicate),
        )

    async def replay(self, seq: int) -> Replayed:
        return await self.replay_letter(await self.get(seq))

    async def replay_all(
        self, consumer: str | None = None, *, progress: Callable[[Replayed | Exception], None] | None = None
    ) -> tuple[builtins.list[Replayed], builtins.list[tuple[int, str]]]:
        """Replay every dead letter in scope (of `consumer`); (replayed, [(seq, error) …])."""
        letters = await self.list(consumer)
        done: builtins.list[Replayed] = []
        failed: builtins.list[tuple[int, str]] = []
        for letter in letters:
            try:
                result = await self.replay_letter(letter)
            except (ProblemError, nats.errors.Error) as exc:
                failed.append((letter.seq, str(exc)))
                if progress is not None:
                    progress(exc)
                continue
            done.append(result)
            if progress is not None:
                progress(result)
        return done, failed

    async def _delete(self, seq: int) -> bool:
        try:
            return bool(await self.js.delete_msg(STREAM, seq))
        except nats.js.errors.NotFoundError:
            return False  # deleted meanwhile (a replay by someone else)
        except nats.errors.TimeoutError as exc:
            raise DeadLettersUnavailable(f"NATS did not answer the deletion of dead letter {seq}") from exc

    async def purge(self, seq: int) -> DeadLetter:
        """Delete one dead letter (it must be in scope); returns it."""
        letter = await self.get(seq)
        await self._delete(seq)
        return letter

    async def purge_all(
        self,
        consumer: str | None = None,
        *,
        older_than: timedelta | None = None,
        progress: Callable[[DeadLetter], None] | None = None,
    ) -> int:
        """Delete the dead letters in scope (of `consumer`; only those older than `older_than`)."""
        letters = await self.list(consumer, headers_only=True)
        if older_than is not None:
            cutoff = datetime.now(UTC) - older_than
            letters = [letter for letter in letters if letter.stored_at < cutoff]
        purged = 0
        for letter in letters:
            if await self._delete(letter.seq):
                purged += 1
            if progress is not None:
                progress(letter)
        return purged


# ---------------------------------------------------------------------------------------------
# The admin API a service mounts: its own consumers' dead letters, for the operator only
# ---------------------------------------------------------------------------------------------


class DeadLetterSummary(BaseModel):
    seq: int = Field(description="Sequence of the dead letter in the DEADLETTER stream: its id")
    consumer: str = Field(description="The durable consumer that gave up on the message")
    reason: str
    original_subject: str | None
    original_stream: str | None
    original_seq: int | None
    event_id: str | None
    event_type: str | None
    deliveries: int | None = Field(description="How often the consumer had received the message")
    dead_lettered_at: datetime
    age_seconds: float


_SUMMARY_EXAMPLE: dict[str, Any] = {
    "seq": 42,
    "consumer": "routing-post-classified",
    "reason": "failed 5 times: ValueError('unknown department 64-xyz')",
    "original_subject": "incidents.v1.post.classified",
    "original_stream": "POSTS",
    "original_seq": 1873,
    "event_id": "0f8c1d3e-5b7a-4c2e-9d41-2b6f0c9a7e55",
    "event_type": "ru.incidents.post.classified",
    "deliveries": 5,
    "dead_lettered_at": "2025-03-14T09:26:53Z",
    "age_seconds": 3600.0,
}


class DeadLetterPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"consumers": ["routing-post-classified"], "items": [_SUMMARY_EXAMPLE], "next_after": None}]
        }
    )

    consumers: list[str] = Field(description="This service's consumers, whose dead letters are listed")
    items: list[DeadLetterSummary]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last one")


class DeadLetterDetail(DeadLetterSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _SUMMARY_EXAMPLE
                | {
                    "headers": {
                        "Incidents-Dead-Letter-Reason": "failed 5 times: ValueError('unknown department 64-xyz')",
                        "Incidents-Original-Subject": "incidents.v1.post.classified",
                    },
                    "payload": {"specversion": "1.0", "id": "0f8c1d3e-…", "type": "ru.incidents.post.classified"},
                    "payload_encoding": "json",
                }
            ]
        }
    )

    headers: dict[str, str]
    payload: Any = Field(description="The original message: a JSON value, or text, or base64 (`payload_encoding`)")
    payload_encoding: str = Field(description="json, text or base64")


class ReplayedRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "consumer": "routing-post-classified",
                    "subject": "incidents.v1.post.classified",
                    "event_id": "0f8c1d3e-5b7a-4c2e-9d41-2b6f0c9a7e55",
                    "stream": "POSTS",
                    "stream_seq": 2210,
                    "duplicate": False,
                }
            ]
        }
    )

    seq: int = Field(description="The dead letter replayed (now deleted)")
    consumer: str
    subject: str = Field(description="The subject the event came from")
    event_id: str | None
    stream: str = Field(description="Where the operator's replay was published; empty when the service applied it")
    stream_seq: int = Field(description="The new message's sequence in its stream (0 when applied in-process)")
    duplicate: bool = Field(description="The same replay had been published within the duplicate window")


class ReplayAll(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"consumer": "routing-post-classified"}]})

    consumer: str | None = Field(
        default=None, max_length=200, description="Only this consumer's dead letters (default: all)"
    )


class ReplayFailure(BaseModel):
    seq: int
    error: str


class ReplayAllResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"replayed": [], "failed": []}]})

    replayed: list[ReplayedRead]
    failed: list[ReplayFailure]


class PurgeRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"consumer": "routing-post-classified", "older_than_days": 30}]}
    )

    consumer: str | None = Field(
        default=None, max_length=200, description="Only this consumer's dead letters (default: all)"
    )
    older_than_days: float | None = Field(
        default=None, ge=0, le=36_500, description="Only those dead-lettered longer ago (at most a century)"
    )


class PurgeResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"purged": 12}]})

    purged: int


def require_operator(caller: CallerDep) -> Caller:
    """403 unless the caller is the operator itself (not a service, not the gateway acting for a user)."""
    if not caller.is_operator:
        raise Forbidden("dead letters are operated by the operator only")
    return caller


def refuse_api_keys(request: Request) -> None:
    """403 for a request made with a gateway API key (`X-API-Key`): the public API's users, whatever
    their role, never operate dead letters. Put before PROTECTED where such keys exist (the gateway);
    a request without credentials still gets PROTECTED's 401."""
    if request.headers.get("x-api-key"):
        raise Forbidden("dead letters are operated with the operator's service token, not an API key")


API_KEYS_REFUSED = [Depends(refuse_api_keys)]
# For the gateway, whose users hold API keys: those get 403, a request without credentials 401.
PROTECTED_NO_API_KEYS = [*API_KEYS_REFUSED, *PROTECTED]


def _service_dead_letters(request: Request) -> DeadLetters:
    events = getattr(request.app.state, "events", None)
    if events is None:
        raise DeadLettersUnavailable("this service runs without NATS: it has no dead letters")
    if events.js is None or not events.connected:
        raise DeadLettersUnavailable("NATS is not connected; try again shortly", headers={"Retry-After": "5"})
    return DeadLetters(
        events.js,
        {c.spec.durable: c.spec.filter_subject for c in events.consumers},
        appliers={c.spec.durable: c.replay for c in events.consumers},
    )


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}
    for status, description in (
        (401, "No valid service token"),
        (403, "Not the operator"),
        (404, "No such dead letter or consumer (of this service)"),
        (409, "The dead letter cannot be replayed (no event subject to go back to)"),
        (503, "NATS is not connected, or this service runs without it"),
    )
}

# Module level: the routes' annotations are strings (`from __future__ import annotations`), which
# FastAPI resolves in this module's namespace.
Store = Annotated[DeadLetters, Depends(_service_dead_letters)]
Operator = Annotated[Caller, Depends(require_operator)]
Seq = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="The dead letter's sequence in the DEADLETTER stream")]


def dead_letter_router(*, prefix: str = "/v1/admin/dead-letters", tags: Sequence[str] = ("dead letters",)) -> APIRouter:
    """The admin API over the dead letters of the service's own consumers (`app.state.events`).

    Mount it protected: `app.include_router(dead_letter_router(), dependencies=PROTECTED)`; every
    route also requires the caller to be the operator (403 otherwise). Unknown ids are 404
    problem+json, NATS down is 503.
    """
    router = APIRouter(prefix=prefix, tags=list(tags), responses=_PROBLEMS)

    @router.get("", response_model=DeadLetterPage, summary="List this service's dead letters")
    async def list_dead_letters(
        _: Operator,
        store: Store,
        consumer: Annotated[str | None, Query(description="Only this consumer's")] = None,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Only those with a higher sequence (paging)")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> DeadLetterPage:
        letters = await store.list(consumer, after=after, limit=limit + 1)
        page = letters[:limit]
        return DeadLetterPage(
            consumers=sorted(store.consumers or {}),
            items=[DeadLetterSummary.model_validate(letter.summary()) for letter in page],
            next_after=page[-1].seq if len(letters) > limit else None,
        )

    @router.get("/{seq}", response_model=DeadLetterDetail, summary="One dead letter: headers and payload")
    async def show_dead_letter(_: Operator, store: Store, seq: Seq) -> DeadLetterDetail:
        return DeadLetterDetail.model_validate((await store.get(seq)).detail())

    @router.post("/{seq}/replay", response_model=ReplayedRead, summary="Replay one dead letter, then delete it")
    async def replay_dead_letter(_: Operator, store: Store, seq: Seq) -> ReplayedRead:
        return ReplayedRead.model_validate((await store.replay(seq)).as_dict())

    @router.post("/replay", response_model=ReplayAllResult, summary="Replay every dead letter (of a consumer)")
    async def replay_dead_letters(_: Operator, store: Store, body: ReplayAll) -> ReplayAllResult:
        done, failed = await store.replay_all(body.consumer)
        return ReplayAllResult(
            replayed=[ReplayedRead.model_validate(r.as_dict()) for r in done],
            failed=[ReplayFailure(seq=seq, error=error) for seq, error in failed],
        )

    @router.delete("/{seq}", response_model=PurgeResult, summary="Delete one dead letter")
    async def purge_dead_letter(_: Operator, store: Store, seq: Seq) -> PurgeResult:
        await store.purge(seq)
        return PurgeResult(purged=1)

    @router.post("/purge", response_model=PurgeResult, summary="Delete dead letters (of a consumer, older than N days)")
    async def purge_dead_letters(_: Operator, store: Store, body: PurgeRequest) -> PurgeResult:
        older = timedelta(days=body.older_than_days) if body.older_than_days is not None else None
        return PurgeResult(purged=await store.purge_all(body.consumer, older_than=older))

    return router


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

EPILOG = """\
credentials: --user and --password, else the user's password from the launcher's store
<data-dir>/secrets/nats/<user>.json (default user: operator, when the store has it); without any,
an anonymous connection (an open server).

examples:
  python -m incidents_common.deadletters list
  python -m incidents_common.deadletters list --consumer routing-post-classified --json
  python -m incidents_common.deadletters show 42
  python -m incidents_common.deadletters replay 42
  python -m incidents_common.deadletters replay --consumer routing-post-classified
  python -m incidents_common.deadletters purge 42
  python -m incidents_common.deadletters purge --all --older-than 30

exit codes: 0 done, 1 NATS unreachable or some operations failed, 2 bad arguments, 3 no such dead
letter or consumer."""


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _connection_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The connection options, on the main parser (with defaults) and on each command (so that they
    may follow it; there without defaults, so that they override only when given)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--nats-url",
        default=default(os.environ.get("INCIDENTS_NATS_URL", "nats://127.0.0.1:4222")),
        help="NATS server URL (default: $INCIDENTS_NATS_URL or nats://127.0.0.1:4222)",
    )
    parser.add_argument("--user", default=default(None), help="NATS user (default: operator, if the store has it)")
    parser.add_argument("--password", default=default(None), help="its password (default: from the store)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default(Path("var")),
        help="the launcher's data folder, with secrets/nats/<user>.json (default: var)",
    )
    parser.add_argument("--timeout", type=float, default=default(5.0), help="seconds to wait for NATS (default: 5)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m incidents_common.deadletters",
        description="List, inspect, replay and purge the dead letters of the consumers (DEADLETTER stream).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    listing = sub.add_parser("list", help="list dead letters: sequence, consumer, age, event, reason")
    _connection_options(listing, suppress=True)
    listing.add_argument("--consumer", help="only this consumer's")
    listing.add_argument("--limit", type=int, help="at most this many (oldest first)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")

    show = sub.add_parser("show", help="one dead letter as JSON: headers and payload")
    _connection_options(show, suppress=True)
    show.add_argument("seq", type=int, help="its sequence (the first column of `list`)")

    replay = sub.add_parser(
        "replay",
        help="publish dead letters again to their original subjects, then delete them",
        description=(
            "Publishes the original payload to the original subject with Nats-Msg-Id replay-<seq> and deletes "
            "the dead letter. Consumers that processed the event already skip it (their inbox): a replay "
            "never doubles an effect. A message that fails again is dead-lettered again."
        ),
    )
    _connection_options(replay, suppress=True)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("seq", type=int, nargs="?", help="one dead letter")
    which.add_argument("--consumer", help="every dead letter of this consumer")
    which.add_argument("--all", action="store_true", help="every dead letter")

    purge = sub.add_parser("purge", help="delete dead letters for good")
    _connection_options(purge, suppress=True)
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("seq", type=int, nargs="?", help="one dead letter")
    which.add_argument("--consumer", help="every dead letter of this consumer")
    which.add_argument("--all", action="store_true", help="every dead letter")
    purge.add_argument("--older-than", type=float, metavar="DAYS", help="only those dead-lettered longer ago")
    return parser


def _credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    from incidents_common.natsauth import OPERATOR_USER, CredentialStore, NatsAuthError

    user, password = args.user, args.password
    if user and password is not None:
        return user, password
    try:
        stored = CredentialStore(args.data_dir).load()
    except NatsAuthError as exc:
        if user:
            raise CliError(str(exc)) from exc
        stored = {}
    if user is None:
        if OPERATOR_USER not in stored:
            return None, None  # anonymous: an open server
        user = OPERATOR_USER
    record = stored.get(user)
    if record is None:
        raise CliError(f"no password for NATS user {user!r}: pass --password, or --data-dir with its credentials", 2)
    return user, record.password


def _table(letters: Sequence[DeadLetter]) -> str:
    rows = [("SEQ", "CONSUMER", "AGE", "EVENT TYPE", "EVENT ID", "REASON")]
    for letter in letters:
        rows.append(
            (
                str(letter.seq),
                letter.consumer,
                _age(letter.age_seconds()),
                (letter.event_type or "-").removeprefix("ru.incidents."),
                letter.event_id or "-",
                letter.reason.replace("\n", " ")[:100],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


async def _run(args: argparse.Namespace) -> int:
    from incidents_common.nats import connect

    user, password = _credentials(args)
    try:
        nc = await connect(
            args.nats_url, "dead-letters-cli", attempts=1, user=user, password=password, reconnect_attempts=1
        )
    except ConnectionError as exc:
        raise CliError(str(exc)) from exc
    try:
        store = DeadLetters(nc.jetstream(timeout=args.timeout), None, timeout=args.timeout)
        if args.command == "list":
            letters = await store.list(args.consumer, limit=args.limit)
            if args.json:
                _print(json.dumps([letter.summary() for letter in letters], ensure_ascii=False, indent=2))
            elif letters:
                _print(_table(letters))
            else:
                sys.stderr.write("no dead letters\n")
            return 0
        if args.command == "show":
            _print(json.dumps((await store.get(args.seq)).detail(), ensure_ascii=False, indent=2))
            return 0
        if args.command == "replay":
            return await _replay(store, args)
        return await _purge(store, args)
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()


async def _replay(store: DeadLetters, args: argparse.Namespace) -> int:
    if args.seq is not None:
        result = await store.replay(args.seq)
        _print(json.dumps(result.as_dict(), ensure_ascii=False))
        return 0
    from tqdm import tqdm

    letters = await store.list(args.consumer)
    failed: list[tuple[int, str]] = []
    replayed = 0
    with tqdm(total=len(letters), desc="replaying", unit="letter", file=sys.stderr, disable=None) as bar:
        for letter in letters:
            try:
                await store.replay_letter(letter)
                replayed += 1
            except (ProblemError, nats.errors.Error) as exc:
                failed.append((letter.seq, str(exc)))
            bar.update(1)
    for seq, error in failed:
        sys.stderr.write(f"dead letter {seq}: {error}\n")
    _print(json.dumps({"replayed": replayed, "failed": len(failed)}))
    return 1 if failed else 0


async def _purge(store: DeadLetters, args: argparse.Namespace) -> int:
    if args.seq is not None:
        if args.older_than is not None:
            raise CliError("--older-than applies to --consumer or --all, not to one dead letter", 2)
        letter = await store.purge(args.seq)
        _print(json.dumps({"purged": 1, "seq": letter.seq, "consumer": letter.consumer}))
        return 0
    if args.older_than is not None and not 0 <= args.older_than <= 36_500:
        raise CliError("--older-than takes a number of days from 0 to 36500", 2)
    older = timedelta(days=args.older_than) if args.older_than is not None else None
    purged = await store.purge_all(args.consumer, older_than=older)
    _print(json.dumps({"purged": purged}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the command says what went wrong itself
    if getattr(args, "limit", None) is not None and args.limit < 1:
        sys.stderr.write("error: --limit must be at least 1\n")
        return 2
    try:
        return asyncio.run(_run(args))
    except CliError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.code
    except (DeadLetterNotFound, UnknownConsumer) as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        return 3
    except ProblemError as exc:
        sys.stderr.write(f"error: {exc.detail or exc.title}\n")
        return 1
    except nats.errors.Error as exc:
        sys.stderr.write(f"error: NATS: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
