"""Officials' replies, published where the complaint was.

Routing asks (`ReplyRequested`, through the outbox); the collector, which holds the sources'
credentials, publishes and says what came of it (`ReplyPublication`, applied here). A reply counts
when it is out there:

- posted by hand (the official gives its link): it counts at once, as it always did;
- published (or only recordable: a pushed or imported post has no way back; or unconfirmed: the
  collector stopped mid-call and does not send twice): the clocks stop, met at the reply's time;
- pending: the incident is `answered` with the reply pending, and its clocks run on;
- failed (token revoked, comments closed, post deleted …): the incident goes back to `in_progress`
  with the reason in its audit log, the clocks still running, for the official to answer again.

An interim answer is published the same way; once it is out (or posted by hand) it stops the
first-reaction clock, met at the time it was given, and the final clock runs on (deadlines).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Writes
from incidents_common.events import (
    BadEvent,
    CloudEvent,
    IncidentReplyPublication,
    IncidentStatus,
    PublicationStatus,
    ReplyKind,
    ReplyPublication,
    ReplyRequested,
    ReplyState,
    Satisfaction,
    SourceType,
)
from incidents_common.nats import BatchHandler
from routing.config import Settings
from routing.deadlines import service as deadlines
from routing.deadlines.models import Clock, Deadline, DeadlineState
from routing.incidents.effects import Effects, Outgoing, emit, record, transition
from routing.incidents.models import Incident, IncidentPost, Reply
from routing.incidents.queries import assignee_official, get_incident
from routing.incidents.review import ClockView
from routing.incidents.writes import queue_effects
from routing.wording import REPLY_KINDS

PUBLISHER = "collector"
# Outcomes after which the reply stands as given (the clocks stop).
STANDS = {PublicationStatus.published, PublicationStatus.recorded_only, PublicationStatus.unconfirmed}
FINAL = STANDS | {PublicationStatus.failed}


def state_of(reply: Reply) -> ReplyState:
    return ReplyState(
        reply_id=reply.id,
        kind=ReplyKind(reply.kind),
        status=PublicationStatus(reply.status),
        channel=reply.channel,
        url=reply.url,
        reason=reply.reason,
        error_code=reply.error_code,
        text=reply.text,
        requested_at=reply.created_at,
        at=reply.updated_at,
    )


async def request_publication(
    session: AsyncSession,
    effects: Effects,
    incident: Incident,
    *,
    kind: ReplyKind,
    text: str,
    actor: str,
    now: datetime,
) -> Reply:
    """A pending reply, and the collector asked to publish it under the incident's first post."""
    origin = await session.get(IncidentPost, incident.origin_post_id)
    reply = _new_reply(session, incident, kind, text, actor, now, status=PublicationStatus.pending.value)
    request = ReplyRequested(
        reply_id=reply.id,
        incident_id=incident.id,
        region_code=incident.region_code,
        kind=kind,
        text=text,
        post_id=incident.origin_post_id,
        source_type=SourceType(origin.source_type) if origin is not None and origin.source_type else None,
        external_id=origin.external_id if origin is not None else None,
        actor=actor,
        requested_at=now,
    )
    effects.events.append(Outgoing(request, incident.origin_post_id))
    return reply


def record_manual(
    session: AsyncSession, incident: Incident, *, kind: ReplyKind, text: str, url: str, actor: str, now: datetime
) -> Reply:
    """A reply the official posted by hand and linked: published, nothing to ask."""
    status = PublicationStatus.published.value
    return _new_reply(session, incident, kind, text, actor, now, status=status, channel="manual", url=url)


def _new_reply(
    session: AsyncSession, incident: Incident, kind: ReplyKind, text: str, actor: str, now: datetime, **fields: Any
) -> Reply:
    """The reply's row, and the incident's latest reply state."""
    reply = Reply(
        id=str(uuid.uuid4()),
        incident_id=incident.id,
        kind=kind.value,
        text=text,
        actor=actor,
        post_id=incident.origin_post_id,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(reply)
    incident.reply_publication = state_of(reply).model_dump(mode="json")
    return reply


async def interim_clocks(session: AsyncSession, incident: Incident, *, now: datetime, settings: Settings) -> None:
    """An interim answer given at `now` stands: the first-reaction clock stops, the final one runs on."""
    incident.first_response_at = incident.first_response_at or now
    running: Sequence[Deadline | deadlines.NewClock] = await deadlines.on_interim_answer(
        session,
        incident=cast(deadlines.ClockedIncident, ClockView(incident)),
        official=await assignee_official(session, incident),
        now=now,
        settings=settings,
    )
    deadlines.sync_due(incident, running)


def publications_handler(settings: Settings) -> BatchHandler:
    """BatchHandler of `routing-reply-publication`."""

    async def handle_publications(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        await apply_publications(writes, events, settings=settings)

    return handle_publications


async def apply_publications(
    writes: Writes, events: list[CloudEvent[Any]], *, settings: Settings | None = None
) -> None:
    """Each outcome applied to its reply and incident."""
    settings = settings or Settings()
    for event in events:
        if not isinstance(event.data, ReplyPublication):
            raise BadEvent(f"expected reply.publication, got {event.type}")
    session = writes.session
    ids = sorted({event.data.reply_id for event in events})
    replies = {
        reply.id: reply
        for reply in (await session.exec(select(Reply).where(col(Reply.id).in_(ids)).with_for_update())).all()
    }
    for event in events:
        outcome: ReplyPublication = event.data
        reply = replies.get(outcome.reply_id)
        if reply is None:
            raise BadEvent(f"unknown reply {outcome.reply_id!r} (incident {outcome.incident_id})")
        if reply.status in FINAL:
            continue  # decided already: a redelivered or late outcome changes nothing
        await _apply(session, writes, reply, outcome, cause=event, settings=settings)


async def _apply(
    session: AsyncSession,
    writes: Writes,
    reply: Reply,
    outcome: ReplyPublication,
    *,
    cause: CloudEvent[Any],
    settings: Settings,
) -> None:
    reply.status = outcome.status.value
    reply.channel = outcome.channel
    reply.url = outcome.url
    reply.published_id = outcome.published_id
    reply.reason = outcome.reason
    reply.error_code = outcome.error_code
    reply.attempts = outcome.attempts
    reply.updated_at = outcome.at
    session.add(reply)

    incident = await get_incident(session, incident_id=reply.incident_id, lock=True)
    latest = (incident.reply_publication or {}).get("reply_id") == reply.id
    state = state_of(reply)
    effects = Effects()
    now = outcome.at
    if latest:
        incident.reply_publication = state.model_dump(mode="json")
    if reply.kind == ReplyKind.reply and outcome.url and not incident.reply_url and latest:
        incident.reply_url = outcome.url
    record(effects, incident, actor=PUBLISHER, action=f"{reply.kind}_{reply.status}", now=now, comment=_note(reply))
    if reply.kind == ReplyKind.interim and latest and outcome.status in STANDS:
        await interim_clocks(session, incident, now=reply.created_at, settings=settings)
    if reply.kind == ReplyKind.reply and latest and incident.status == IncidentStatus.answered:
        if outcome.status in STANDS:
            # Met at the time the official replied: publishing took the collector, not the official.
            incident.first_response_at = incident.first_response_at or reply.created_at
            if outcome.status == PublicationStatus.published:
                incident.satisfaction = Satisfaction.no_reaction.value  # until the complainant reacts to it
            running = await deadlines.settle(
                session,
                incident=incident,
                clocks=(Clock.first_reaction, Clock.final),
                state=DeadlineState.met,
                now=reply.created_at,
            )
            deadlines.sync_due(incident, running)
        elif outcome.status == PublicationStatus.failed:
            transition(
                effects,
                incident,
                to=IncidentStatus.in_progress,
                actor=PUBLISHER,
                now=now,
                action="reply_not_published",
                comment=f"Ответ не опубликован: {reply.reason or 'причина не указана'}",
            )
    incident.updated_at = max(incident.updated_at, now)
    emit(effects, incident, IncidentReplyPublication, cause=cause, reply=state)
    session.add(incident)
    queue_effects(writes, effects)


# What became of a reply, as the audit log says it («Ответ опубликован (vk): …»).
PUBLICATION_NOTES: dict[str, str] = {
    PublicationStatus.pending.value: "публикуется",
    PublicationStatus.published.value: "опубликован",
    PublicationStatus.failed.value: "не опубликован",
    PublicationStatus.unconfirmed.value: "публикация не подтверждена",
    PublicationStatus.recorded_only.value: "только записан (у источника нет обратного канала)",
}


def _note(reply: Reply) -> str:
    kind = REPLY_KINDS.get(reply.kind, reply.kind).capitalize()
    status = PUBLICATION_NOTES.get(reply.status, reply.status)
    where = f" ({reply.channel})" if reply.channel else ""
    if reply.status == PublicationStatus.published:
        return f"{kind} {status}{where}: {reply.url or 'без ссылки'}"
    return f"{kind}: {status}{where}: {reply.reason or 'причина не указана'}"
