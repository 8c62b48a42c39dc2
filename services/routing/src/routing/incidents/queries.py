"""Reading incidents: one (optionally locked for an action), a page of them, the detail view."""

from __future__ import annotations

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import writes_of
from routing.config import Settings
from routing.deadlines import service as deadlines
from routing.directory.models import Official
from routing.errors import UnknownIncident
from routing.incidents.models import Escalation, Incident, IncidentHistory, IncidentPost, Reaction, Reply
from routing.incidents.schemas import (
    EscalationRead,
    HistoryRead,
    IncidentDetail,
    IncidentPage,
    IncidentPostRead,
    PublishedReplyRead,
    ReactionRead,
    ReplyRead,
)
from routing.incidents.snapshots import incident_read, review_reasons_of


async def get_incident(session: AsyncSession, *, incident_id: str, lock: bool = False) -> Incident:
    query = select(Incident).where(Incident.id == incident_id)
    if lock and session.bind is not None and session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    incident = (await session.exec(query)).first()
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id!r}")
    return incident


async def assignee_official(session: AsyncSession, incident: Incident) -> Official | None:
    """The assignee's directory entry (its working hours); None for the federal queue."""
    return await session.get(Official, incident.assignee_id) if incident.assignee_id else None


async def list_incidents(
    session: AsyncSession,
    *,
    region: str | None,
    category: str | None,
    status: str | None,
    assignee: str | None,
    limit: int,
    offset: int,
    regions: frozenset[str] | None = None,
) -> IncidentPage:
    """Newest first. With `regions` (a user's) only incidents of those regions; another region: empty."""
    if region and regions is not None and region not in regions:
        return IncidentPage(items=[], total=0, limit=limit, offset=offset)
    query = select(Incident)
    if regions is not None:
        query = query.where(col(Incident.region_code).in_(sorted(regions)))
    if region:
        query = query.where(Incident.region_code == region)
    if category:
        query = query.where(Incident.category == category)
    if status:
        query = query.where(Incident.status == status)
    if assignee:
        query = query.where(Incident.assignee_id == assignee)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(
        query.order_by(col(Incident.created_at).desc(), col(Incident.id)).limit(limit).offset(offset)
    )
    return IncidentPage(items=[incident_read(i) for i in rows.all()], total=total, limit=limit, offset=offset)


async def incident_detail(
    session: AsyncSession, *, incident_id: str, settings: Settings, regions: frozenset[str] | None = None
) -> IncidentDetail:
    await writes_of(session).flush()  # the audit rows, posts and clocks this transaction queued
    incident = await get_incident(session, incident_id=incident_id)
    if regions is not None and incident.region_code not in regions:
        raise UnknownIncident(f"no incident {incident_id!r}")  # exactly like a missing one
    posts = (
        await session.exec(
            select(IncidentPost).where(IncidentPost.incident_id == incident.id).order_by(col(IncidentPost.ordinal))
        )
    ).all()
    history = (
        await session.exec(
            select(IncidentHistory).where(IncidentHistory.incident_id == incident.id).order_by(col(IncidentHistory.seq))
        )
    ).all()
    escalations = (
        await session.exec(
            select(Escalation).where(Escalation.incident_id == incident.id).order_by(col(Escalation.level))
        )
    ).all()
    wall = working = None
    if incident.first_response_at is not None:
        wall = (incident.first_response_at - incident.created_at).total_seconds()
        calendar = deadlines.calendar_for(
            await assignee_official(session, incident),
            incident.region_code,
            settings,
            city=incident.city,
            urgency=incident.urgency,
        )
        working = round(calendar.between(incident.created_at, incident.first_response_at) / 3600, 2)
    return IncidentDetail(
        **incident_read(incident).model_dump(),
        summary=incident.summary,
        assignment_explanation=incident.assignment_explanation,
        rule_id=incident.rule_id,
        federal_fallback=incident.federal_fallback,
        flag_reason=incident.flag_reason,
        escalated_to_id=incident.escalated_to_id,
        escalated_to_name=incident.escalated_to_name,
        reject_reason=incident.reject_reason,
        review_reasons=review_reasons_of(incident),
        danger=incident.danger,
        reply=ReplyRead(text=incident.reply_text, url=incident.reply_url) if incident.reply_text else None,
        interim_answer=ReplyRead(text=incident.interim_text, url=incident.interim_url)
        if incident.interim_text
        else None,
        replies=await published_replies(session, incident.id),
        reactions=await incident_reactions(session, incident.id),
        time_to_first_response_seconds=wall,
        time_to_first_response_working_hours=working,
        redirect_chain=list(incident.redirect_chain),
        post_ids=list(incident.post_ids),
        posts=[
            IncidentPostRead(
                post_id=p.post_id,
                external_id=p.external_id,
                author=p.author_name,
                url=p.url,
                text=p.text,
                reach=p.reach,
                similarity=p.similarity,
                published_at=p.published_at,
                attached_at=p.attached_at,
            )
            for p in posts
        ],
        deadlines=await deadlines.incident_deadlines(session, incident.id),
        escalations=[EscalationRead(**e.model_dump()) for e in escalations],
        history=[HistoryRead(**h.model_dump()) for h in history],
    )


async def published_replies(session: AsyncSession, incident_id: str) -> list[PublishedReplyRead]:
    rows = await session.exec(
        select(Reply).where(Reply.incident_id == incident_id).order_by(col(Reply.created_at).desc())
    )
    return [
        PublishedReplyRead(
            reply_id=r.id,
            kind=r.kind,
            text=r.text,
            actor=r.actor,
            status=r.status,
            channel=r.channel,
            url=r.url,
            reason=r.reason,
            error_code=r.error_code,
            attempts=r.attempts,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows.all()
    ]


async def incident_reactions(session: AsyncSession, incident_id: str) -> list[ReactionRead]:
    rows = await session.exec(
        select(Reaction).where(Reaction.incident_id == incident_id).order_by(col(Reaction.published_at))
    )
    return [
        ReactionRead(
            reaction_id=r.id,
            reply_id=r.reply_id,
            by_complainant=r.by_complainant,
            label=r.label,
            confidence=r.confidence,
            evidence=list(r.evidence),
            text=r.text,
            url=r.url,
            published_at=r.published_at,
        )
        for r in rows.all()
    ]
