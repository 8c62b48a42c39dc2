"""The admin API a service mounts: its own consumers' dead letters, for the operator only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from incidents_common.deadletters.operations import DeadLetters, DeadLettersUnavailable
from incidents_common.identity import PROTECTED, Caller, CallerDep
from incidents_common.problems import PROBLEM_MEDIA_TYPE, Forbidden, Problem


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


async def require_operator(caller: CallerDep) -> Caller:
    """403 unless the caller is the operator itself (not a service, not the gateway acting for a user)."""
    if not caller.is_operator:
        raise Forbidden("dead letters are operated by the operator only")
    return caller


async def refuse_api_keys(request: Request) -> None:
    """403 for a request made with a gateway API key (`X-API-Key`): the public API's users, whatever
    their role, never operate dead letters. Put before PROTECTED where such keys exist (the gateway);
    a request without credentials still gets PROTECTED's 401."""
    if request.headers.get("x-api-key"):
        raise Forbidden("dead letters are operated with the operator's service token, not an API key")


API_KEYS_REFUSED = [Depends(refuse_api_keys)]
# For the gateway, whose users hold API keys: those get 403, a request without credentials 401.
PROTECTED_NO_API_KEYS = [*API_KEYS_REFUSED, *PROTECTED]


async def _service_dead_letters(request: Request) -> DeadLetters:
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
