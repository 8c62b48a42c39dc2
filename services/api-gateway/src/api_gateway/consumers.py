"""The read model: incident events and classified posts, applied in whatever order they arrive.

Each incident event carries the whole snapshot after the change. Snapshots may arrive out of order
(redelivery, two streams), so a snapshot older than the stored one (by `updated_at`) only adds its
history entry and event facts; it never rolls the incident back. A classified post may arrive before
or after the incident that cites it: posts are stored by id, incidents list their post ids, and each
side keeps its own search text, so neither consumer depends on the other's uncommitted rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_attribute
from sqlmodel import col, select
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


def _snapshot_values(snap: IncidentSnapshot, incident: Incident | None) -> dict[str, Any]:
    """The Incident columns a snapshot sets, with the facts it derives (answered, closed)."""
    assignee = snap.assignee
    answered_at = incident.answered_at if incident else None
    closed_at = incident.closed_at if incident else None
    if snap.status in ANSWERED_STATUSES and answered_at is None:
        answered_at = snap.first_response_at or snap.updated_at
    if snap.first_response_at is not None and (answered_at is None or snap.first_response_at < answered_at):
        answered_at = snap.first_response_at
    return {
        "region_code": snap.region_code,
        "region_name": snap.region_name,
        "city": snap.city,
        "city_norm": normalize(snap.city) if snap.city else None,
        "category": snap.category,
        "urgency": snap.urgency.value,
        "status": snap.status.value,
        "severity": snap.severity,
        "title": snap.title,
        "summary": snap.summary,
        "assignee": assignee.model_dump(mode="json") if assignee else None,
        "assignee_id": assignee.official_id if assignee else None,
        "assignee_name": assignee.name if assignee else None,
        "department_id": assignee.department_id if assignee else None,
        "department_name": assignee.department_name if assignee else None,
        "assignment_explanation": snap.assignment_explanation,
        "post_ids": list(snap.post_ids),
        "complainants": snap.complainants,
        "total_reach": snap.total_reach,
        "escalation_level": snap.escalation_level,
        # Routing's snapshot carries the due times of the clocks still running: a clock stopped by
        # the response (or the resolution) drops out. Keep its last due time, which analytics
        # compares the response with ("answered within deadline"); a restarted clock brings a new one.
        "first_response_due": snap.first_response_due or (incident.first_response_due if incident else None),
        "final_due": snap.final_due or (incident.final_due if incident else None),
        "first_response_at": snap.first_response_at,
        "created_at": snap.created_at,
        "updated_at": snap.updated_at,
        "answered_at": answered_at,
        "closed_at": (closed_at or snap.updated_at) if snap.status in CLOSED_STATUSES else None,
        # Posts carry their own search text (see Post.search_text), so neither consumer has to
        # see the other's uncommitted rows.
        "search_text": _incident_search_text(snap),
    }


@lru_cache(maxsize=4096)
def _cached_index(title: str, summary: str, city: str | None) -> str:
    return index_text(title, summary, city)


def _incident_search_text(snap: IncidentSnapshot) -> str:
    return _cached_index(snap.title, snap.summary, snap.city)


def _apply_snapshot(incident: Incident, snap: IncidentSnapshot) -> None:
    for key, value in _snapshot_values(snap, incident).items():
        # Only changed columns: fewer UPDATE columns, and SQLModel's __setattr__ is costly per call.
        if getattr(incident, key) != value:
            set_attribute(incident, key, value)


def new_incident(snap: IncidentSnapshot) -> Incident:
    return Incident(incident_id=snap.incident_id, **_snapshot_values(snap, None))


# ---------------------------------------------------------------------------------------------
# Batched application: the handlers only queue; the queue is applied when the consumer's
# transaction commits, with three IN-queries for the whole batch instead of several per event.
# ---------------------------------------------------------------------------------------------

QUEUE_KEY = "gw_queue"
IN_CHUNK = 500


def _queue(session: AsyncSession) -> list[CloudEvent[Any]]:
    queue: list[CloudEvent[Any]] | None = session.info.get(QUEUE_KEY)
    if queue is None:
        queue = session.info[QUEUE_KEY] = []
        # before_commit runs inside SQLAlchemy's greenlet, where the sync Session may query; what
        # it adds is flushed by the same commit, so the effect and the inbox rows stay atomic.
        if not sa_event.contains(session.sync_session, "before_commit", _apply_queue):
            sa_event.listen(session.sync_session, "before_commit", _apply_queue)
    return queue


async def handle_incident_event(session: AsyncSession, event: CloudEvent[Any]) -> None:
    if not isinstance(event.data, IncidentEvent):
        raise BadEvent(f"not an incident event: {event.type}")
    _queue(session).append(event)


async def handle_post_classified(session: AsyncSession, event: CloudEvent[Any]) -> None:
    if not isinstance(event.data, PostClassified):
        raise BadEvent(f"not a classified post: {event.type}")
    _queue(session).append(event)


def _apply_queue(session: Session) -> None:
    queue = session.info.pop(QUEUE_KEY, None)
    if queue:
        _Batch(session).apply(queue)


def _chunks(values: set[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]


class _Batch:
    """The rows one batch touches, loaded up front; new rows are added to the session as they appear."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.incidents: dict[str, Incident | None] = {}
        self.posts: dict[str, Post | None] = {}
        self.links: dict[str, str | None] = {}
        # History rows have a database-generated key: the ORM would insert them one statement at a
        # time, so they go in with one executemany.
        self.log_rows: list[dict[str, Any]] = []

    def _load(self, incident_ids: set[str], linked_post_ids: set[str], post_ids: set[str]) -> None:
        for chunk in _chunks(incident_ids):
            query = select(Incident).where(col(Incident.incident_id).in_(chunk))
            incidents = {i.incident_id: i for i in self.session.execute(query).scalars()}
            self.incidents.update({iid: incidents.get(iid) for iid in chunk})
        for chunk in _chunks(linked_post_ids):
            links = self.session.execute(select(IncidentPost).where(col(IncidentPost.post_id).in_(chunk))).scalars()
            found = {link.post_id: link.incident_id for link in links}
            self.links.update({pid: found.get(pid) for pid in chunk})
        for chunk in _chunks(post_ids):
            posts = {
                p.post_id: p for p in self.session.execute(select(Post).where(col(Post.post_id).in_(chunk))).scalars()
            }
            self.posts.update({pid: posts.get(pid) for pid in chunk})

    def apply(self, events: list[CloudEvent[Any]]) -> None:
        incident_ids: set[str] = set()
        linked_post_ids: set[str] = set()
        post_ids: set[str] = set()
        for event in events:
            if isinstance(event.data, IncidentEvent):
                incident_ids.add(event.data.incident.incident_id)
                linked_post_ids.update(event.data.incident.post_ids)
            else:
                post_ids.add(event.data.post_id)
        self._load(incident_ids, linked_post_ids, post_ids)
        for event in events:
            if isinstance(event.data, IncidentEvent):
                self._incident_event(event, event.data)
            else:
                self._post(event.data)
        if self.log_rows:
            self.session.execute(insert(IncidentEventLog.__table__), self.log_rows)  # type: ignore[attr-defined]

    def _incident_event(self, event: CloudEvent[Any], data: IncidentEvent) -> None:
        snap = data.incident
        detail, actor, from_status, to_status = _event_detail(data)
        self.log_rows.append(
            {
                "event_id": event.id,
                "incident_id": snap.incident_id,
                "region_code": snap.region_code,
                "type": event.type.removeprefix("ru.incidents."),
                "subject": subject_of(data),
                "occurred_at": event.time,
                "actor": actor,
                "from_status": from_status,
                "to_status": to_status,
                "detail": detail,
                "payload": event.model_dump(mode="json", exclude_none=True),
            }
        )
        incident = self.incidents.get(snap.incident_id)
        if incident is None:
            incident = new_incident(snap)
            self.incidents[snap.incident_id] = incident
            self.session.add(incident)
        elif _as_utc(snap.updated_at) >= _as_utc(incident.updated_at):
            _apply_snapshot(incident, snap)
        if isinstance(data, IncidentEscalated):
            incident.escalations += 1
        if isinstance(data, IncidentStatusChanged) and data.to_status in ANSWERED_STATUSES:
            if incident.answered_at is None or event.time < incident.answered_at:
                incident.answered_at = event.time
        for post_id in snap.post_ids:
            if self.links.get(post_id) is None:
                self.session.add(IncidentPost(post_id=post_id, incident_id=snap.incident_id))
                self.links[post_id] = snap.incident_id

    def _post(self, data: PostClassified) -> None:
        post = self.posts.get(data.post_id)
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
            self.posts[data.post_id] = post
            self.session.add(post)
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
        post.search_text = index_text(data.text)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
