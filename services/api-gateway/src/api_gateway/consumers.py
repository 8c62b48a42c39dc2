"""The read model: incident events and classified posts, applied in whatever order they arrive.

Each incident event carries the whole snapshot after the change. Snapshots may arrive out of order
(redelivery, two streams), so a snapshot older than the stored one (by `updated_at`) only adds its
history entry and event facts; it never rolls the incident back. A classified post may arrive before
or after the incident that cites it: whichever comes second links them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.models import Incident, IncidentEventLog, IncidentPost, Post
from api_gateway.search import index_text, normalize
from incidents_common.events import (
    BadEvent,
    CloudEvent,
    IncidentAssigned,
    IncidentCreated,
    IncidentDeadlineWarning,
    IncidentEscalated,
    IncidentEvent,
    IncidentPostAttached,
    IncidentSnapshot,
    IncidentStatusChanged,
    PostClassified,
    subject_of,
)

ANSWERED_STATUSES = {"answered", "resolved", "closed"}
CLOSED_STATUSES = {"resolved", "closed", "rejected"}


def _event_detail(data: IncidentEvent) -> tuple[dict[str, Any], str | None, str | None, str | None]:
    """(detail, actor, from_status, to_status) of one event, for the history."""
    if isinstance(data, IncidentCreated):
        return {"post_id": data.post_id}, None, None, data.incident.status
    if isinstance(data, IncidentAssigned):
        detail: dict[str, Any] = {
            "assignee": data.assignee.model_dump(mode="json"),
            "explanation": data.explanation,
            "rule_id": data.rule_id,
        }
        return detail, None, None, None
    if isinstance(data, IncidentStatusChanged):
        return {"comment": data.comment}, data.actor, data.from_status, data.to_status
    if isinstance(data, IncidentPostAttached):
        return (
            {"post_id": data.post_id, "similarity": data.similarity, "explanation": data.explanation},
            None,
            None,
            None,
        )
    if isinstance(data, IncidentDeadlineWarning):
        warning: dict[str, Any] = {
            "clock": data.clock,
            "due_at": data.due_at.isoformat(),
            "share_used": data.share_used,
        }
        return warning, None, None, None
    if isinstance(data, IncidentEscalated):
        escalated_to = data.escalated_to.model_dump(mode="json") if data.escalated_to else None
        return {"level": data.level, "reason": data.reason, "escalated_to": escalated_to}, None, None, None
    return {}, None, None, None


def _apply_snapshot(incident: Incident, snap: IncidentSnapshot) -> None:
    assignee = snap.assignee
    incident.region_code = snap.region_code
    incident.region_name = snap.region_name
    incident.city = snap.city
    incident.city_norm = normalize(snap.city) if snap.city else None
    incident.category = snap.category
    incident.urgency = snap.urgency
    incident.status = snap.status
    incident.severity = snap.severity
    incident.title = snap.title
    incident.summary = snap.summary
    incident.assignee = assignee.model_dump(mode="json") if assignee else None
    incident.assignee_id = assignee.official_id if assignee else None
    incident.assignee_name = assignee.name if assignee else None
    incident.department_id = assignee.department_id if assignee else None
    incident.department_name = assignee.department_name if assignee else None
    incident.assignment_explanation = snap.assignment_explanation
    incident.post_ids = list(snap.post_ids)
    incident.complainants = snap.complainants
    incident.total_reach = snap.total_reach
    incident.escalation_level = snap.escalation_level
    # Routing's snapshot carries the due times of the clocks still running: a clock stopped by the
    # response (or the resolution) drops out. Keep its last due time, which analytics compares the
    # response with ("answered within deadline"); a restarted clock brings a new one.
    incident.first_response_due = snap.first_response_due or incident.first_response_due
    incident.final_due = snap.final_due or incident.final_due
    incident.first_response_at = snap.first_response_at
    incident.created_at = snap.created_at
    incident.updated_at = snap.updated_at
    if snap.status in ANSWERED_STATUSES and incident.answered_at is None:
        incident.answered_at = snap.first_response_at or snap.updated_at
    if snap.first_response_at is not None and (
        incident.answered_at is None or snap.first_response_at < incident.answered_at
    ):
        incident.answered_at = snap.first_response_at
    if snap.status in CLOSED_STATUSES:
        incident.closed_at = incident.closed_at or snap.updated_at
    else:
        incident.closed_at = None


async def _post_texts(session: AsyncSession, post_ids: list[str]) -> list[str]:
    if not post_ids:
        return []
    rows = await session.exec(select(Post.text).where(Post.post_id.in_(post_ids)))  # type: ignore[attr-defined]
    return list(rows.all())


async def refresh_search_text(session: AsyncSession, incident: Incident) -> None:
    texts = await _post_texts(session, list(incident.post_ids or []))
    incident.search_text = index_text(incident.title, incident.summary, incident.city, *texts)


async def handle_incident_event(session: AsyncSession, event: CloudEvent[Any]) -> None:
    data = event.data
    if not isinstance(data, IncidentEvent):
        raise BadEvent(f"not an incident event: {event.type}")
    snap = data.incident
    detail, actor, from_status, to_status = _event_detail(data)
    session.add(
        IncidentEventLog(
            event_id=event.id,
            incident_id=snap.incident_id,
            region_code=snap.region_code,
            type=event.type.removeprefix("ru.incidents."),
            subject=subject_of(data),
            occurred_at=event.time,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
            payload=event.model_dump(mode="json", exclude_none=True),
        )
    )
    incident = await session.get(Incident, snap.incident_id)
    newer = incident is None or _as_utc(snap.updated_at) >= _as_utc(incident.updated_at)
    if incident is None:
        incident = Incident(
            incident_id=snap.incident_id,
            region_code=snap.region_code,
            region_name=snap.region_name,
            category=snap.category,
            urgency=snap.urgency,
            status=snap.status,
            title=snap.title,
            summary=snap.summary,
            created_at=snap.created_at,
            updated_at=snap.updated_at,
        )
    if newer:
        _apply_snapshot(incident, snap)
    if isinstance(data, IncidentEscalated):
        incident.escalations += 1
    if isinstance(data, IncidentStatusChanged) and data.to_status in ANSWERED_STATUSES:
        if incident.answered_at is None or event.time < incident.answered_at:
            incident.answered_at = event.time
    for post_id in snap.post_ids:
        if await session.get(IncidentPost, post_id) is None:
            session.add(IncidentPost(post_id=post_id, incident_id=snap.incident_id))
    await refresh_search_text(session, incident)
    session.add(incident)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def handle_post_classified(session: AsyncSession, event: CloudEvent[Any]) -> None:
    data = event.data
    if not isinstance(data, PostClassified):
        raise BadEvent(f"not a classified post: {event.type}")
    post = await session.get(Post, data.post_id)
    if post is not None and post.version > data.version:
        return  # an older version of the post arrived late
    if post is None:
        post = Post(
            post_id=data.post_id,
            source_type=data.source_type,
            external_id=data.external_id,
            text=data.text,
            published_at=data.published_at,
        )
    post.version = data.version
    post.source_type = data.source_type
    post.external_id = data.external_id
    post.url = data.url
    post.author = data.author.model_dump(mode="json", exclude_none=True) if data.author else None
    post.text = data.text
    post.published_at = data.published_at
    post.reach = data.reach.model_dump(mode="json", exclude_none=True)
    post.place_hints = data.place_hints.model_dump(mode="json", exclude_none=True)
    post.classification = data.classification.model_dump(mode="json")
    session.add(post)
    link = await session.get(IncidentPost, data.post_id)
    if link is not None:
        incident = await session.get(Incident, link.incident_id)
        if incident is not None:
            await session.flush()
            await refresh_search_text(session, incident)
            session.add(incident)
