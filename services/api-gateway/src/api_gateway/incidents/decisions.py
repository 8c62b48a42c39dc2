"""The read model's decisions: pure functions of the stored rows and the incoming events, which the
batch handlers in incidents/consumers.py load for and write out.

Each incident event carries the whole snapshot after the change. Snapshots may arrive out of order
(redelivery, two streams), so a snapshot older than the stored one only adds its history entry and
event facts; it never rolls the incident back (see `decide_incidents`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from api_gateway.incidents.search import index_text, normalize
from api_gateway.incidents.statuses import ANSWERED_STATUSES, CLOSED_STATUSES
from incidents_common.events import (
    CloudEvent,
    IncidentAssigned,
    IncidentCorrected,
    IncidentCreated,
    IncidentDeadlineWarning,
    IncidentEscalated,
    IncidentEvent,
    IncidentMovedOut,
    IncidentPostAttached,
    IncidentReaction,
    IncidentReplyPublication,
    IncidentSnapshot,
    IncidentStatusChanged,
    PostClassified,
    subject_of,
)

AsJson = Callable[[CloudEvent[Any]], dict[str, Any]]
# An event as a JSON column stores it: its data, or the text it arrived as (Writes.received_text).
AsStored = Callable[[CloudEvent[Any]], Any]


def _event_detail(data: IncidentEvent) -> tuple[dict[str, Any], str | None, str | None, str | None]:
    """(detail, actor, from_status, to_status) of one event, for the history."""
    if isinstance(data, IncidentCreated):
        return {"post_id": data.post_id}, None, None, data.incident.status
    if isinstance(data, IncidentAssigned):
        detail: dict[str, Any] = {
            "assignee": data.assignee.model_dump(mode="json"),
            "explanation": data.explanation,
            "rule_id": data.rule_id,
            "comment": data.comment,
        }
        return detail, data.actor, None, None
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
    if isinstance(data, IncidentCorrected):
        corrected: dict[str, Any] = {
            "corrected": data.corrected.model_dump(mode="json", exclude_none=True),
            "previous": data.previous.model_dump(mode="json", exclude_none=True),
            "review_reasons": [r.model_dump(mode="json") for r in data.review_reasons],
            "comment": data.comment,
        }
        return corrected, data.actor, None, None
    if isinstance(data, IncidentMovedOut):
        moved = {"from_region_code": data.from_region_code, "to_region_code": data.to_region_code}
        return {**moved, "comment": data.comment}, data.actor, None, None
    if isinstance(data, IncidentReplyPublication):
        return data.reply.model_dump(mode="json", exclude_none=True), "collector", None, None
    if isinstance(data, IncidentReaction):
        reaction = {
            "label": data.label.value,
            "by_complainant": data.by_complainant,
            "text": data.text,
            "url": data.url,
        }
        return reaction, "citizen", None, None
    return {}, None, None, None


def dumped(event: CloudEvent[Any]) -> dict[str, Any]:
    """An event as JSON data, dumped from its model (a consumer passes the document it received)."""
    return event.model_dump(mode="json", exclude_none=True)


def history_row(event: CloudEvent[Any], data: IncidentEvent, as_stored: AsStored = dumped) -> dict[str, Any]:
    """The gw_incident_event row of one incident event (its `seq` is given by the database)."""
    detail, actor, from_status, to_status = _event_detail(data)
    return {
        "event_id": event.id,
        "incident_id": data.incident.incident_id,
        # The region the event is for: the incident's, but the region it left for incident.moved_out,
        # whose SSE streams and webhooks (filtered on this column) must hear that it is gone.
        "region_code": data.subject_region,
        "type": event.type.removeprefix("ru.incidents."),
        "subject": subject_of(data),
        "occurred_at": event.time,
        "actor": actor,
        "from_status": from_status,
        "to_status": to_status,
        "detail": detail,
        "payload": as_stored(event),
    }


def snapshot_values(snap: IncidentSnapshot, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The gw_incident columns a snapshot sets, with the facts it derives (answered, closed)."""
    assignee = snap.assignee
    answered_at = stored["answered_at"] if stored else None
    closed_at = stored["closed_at"] if stored else None
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
        "first_response_due": snap.first_response_due or (stored["first_response_due"] if stored else None),
        "final_due": snap.final_due or (stored["final_due"] if stored else None),
        "sla_policy": snap.sla_policy or (stored["sla_policy"] if stored else None),
        "first_response_at": snap.first_response_at,
        "created_at": snap.created_at,
        "updated_at": snap.updated_at,
        "revision": snap.revision,
        "needs_review": snap.needs_review,
        "review_reasons": [r.model_dump(mode="json") for r in snap.review_reasons],
        "possibly_critical": snap.possibly_critical,
        "reply": snap.reply.model_dump(mode="json") if snap.reply else None,
        "satisfaction": snap.satisfaction.value if snap.satisfaction else None,
        "danger": snap.danger,
        # A snapshot without a priority (from a routing release before issue 15) keeps the one held.
        "priority": snap.priority.score if snap.priority else (stored["priority"] if stored else 0.0),
        "priority_parts": snap.priority.model_dump(mode="json")
        if snap.priority
        else (stored["priority_parts"] if stored else None),
        "answered_at": answered_at,
        "closed_at": (closed_at or snap.updated_at) if snap.status in CLOSED_STATUSES else None,
        # Posts carry their own search text (see Post.search_text), so neither consumer has to
        # see the other's uncommitted rows.
        "search_text": _incident_search_text(snap.title, snap.summary, snap.city),
    }


@lru_cache(maxsize=4096)
def _incident_search_text(title: str, summary: str, city: str | None) -> str:
    return index_text(title, summary, city)


@dataclass
class IncidentEffects:
    """What a batch of incident events writes: whole incident rows (only those that changed), the
    post links to add (a post stays with the first incident that claimed it), the history rows."""

    incidents: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def decide_incidents(
    stored: Mapping[str, Mapping[str, Any]], events: Sequence[CloudEvent[Any]], as_stored: AsStored = dumped
) -> IncidentEffects:
    """Fold incident events, in delivery order, into the stored rows (incident id → row).

    A snapshot at least as new as the row replaces its columns: newer by `revision` (routing counts
    every change of an incident; its clock may differ between replicas), then by `updated_at` (for
    snapshots of releases before revisions). An older one only adds its history entry and its facts:
    an escalation counted, an earlier answer time.
    """
    rows: dict[str, dict[str, Any]] = {}
    links: dict[str, str] = {}
    effects = IncidentEffects()
    for event in events:
        data: IncidentEvent = event.data
        snap = data.incident
        effects.history.append(history_row(event, data, as_stored))
        row = rows.get(snap.incident_id)
        if row is None:
            known = stored.get(snap.incident_id)
            row = dict(known) if known is not None else None
        if row is None:
            row = {"incident_id": snap.incident_id, "escalations": 0, **snapshot_values(snap, None)}
        elif (snap.revision, _as_utc(snap.updated_at)) >= (row["revision"] or 0, _as_utc(row["updated_at"])):
            row.update(snapshot_values(snap, row))
        if isinstance(data, IncidentEscalated):
            row["escalations"] += 1
        if isinstance(data, IncidentStatusChanged) and data.to_status in ANSWERED_STATUSES:
            if row["answered_at"] is None or event.time < row["answered_at"]:
                row["answered_at"] = event.time
        rows[snap.incident_id] = row
        for post_id in snap.post_ids:
            links.setdefault(post_id, snap.incident_id)
    # Sorted by key: concurrent transactions then lock rows in the same order (no deadlock).
    effects.incidents = [row for key, row in sorted(rows.items()) if stored.get(key) != row]
    effects.links = [{"post_id": post, "incident_id": incident} for post, incident in sorted(links.items())]
    return effects


def post_row(event: CloudEvent[Any], as_json: AsJson = dumped) -> dict[str, Any]:
    """The gw_post row of a classified post: its JSON parts as the event carried them, but the
    classification, which is stored whole."""
    data: PostClassified = event.data
    document = as_json(event)["data"]
    return {
        "post_id": data.post_id,
        "version": data.version,
        "source_type": data.source_type,
        "external_id": data.external_id,
        "url": data.url,
        "author": document.get("author"),
        "text": data.text,
        "published_at": data.published_at,
        "reach": document.get("reach"),
        "place_hints": document.get("place_hints"),
        # Whole, its empty fields as null (the producer leaves them out): clients and the console read
        # every field of the classification, danger included.
        "classification": data.classification.model_dump(mode="json"),
        "search_text": index_text(data.text),
    }


def decide_posts(
    stored_versions: Mapping[str, int], events: Sequence[CloudEvent[Any]], as_json: AsJson = dumped
) -> list[dict[str, Any]]:
    """The post rows to write: each post's newest version (an older version arriving late is dropped;
    the same version again replaces the row, as a redelivered correction would).

    A post the classifier calls no complaint, with nothing for a person to review, is not stored
    unless an earlier version is: routing never makes an incident of it, and the read model serves
    posts only through their incidents. (The classifier sends such a post's first version to
    post.noise, which this consumer does not read; a later version comes here, as it may update one.)"""
    newest: dict[str, CloudEvent[Any]] = {}
    for event in events:
        data: PostClassified = event.data
        known = newest[data.post_id].data.version if data.post_id in newest else stored_versions.get(data.post_id)
        if known is None or known <= data.version:
            newest[data.post_id] = event
    return [
        post_row(event, as_json)
        for post_id, event in sorted(newest.items())
        if post_id in stored_versions or event.data.classification.is_incident or event.data.classification.needs_review
    ]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
