"""An incident as the consumer's batch holds it in memory, and the snapshots events and lists carry.

`IncidentRecord` mirrors the `routing_incidents` row column for column (a test keeps them equal):
the batch loads open incidents as plain rows, decides on records and writes them back as dicts,
because an ORM object per incident cost more than deciding about it. The lifecycle actions work on
the ORM `Incident`; the snapshot functions take either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from incidents_common.events import (
    Assignee,
    IncidentSnapshot,
    IncidentStatus,
    Priority,
    ReplyState,
    ReviewReason,
    Satisfaction,
    Urgency,
)
from routing.incidents.schemas import IncidentRead


class IncidentLike(Protocol):
    """The columns of an incident that decisions read and change (Incident and IncidentRecord both have them)."""

    id: str
    region_code: str
    region_name: str
    city: str | None
    address: str | None
    category: str
    urgency: str
    status: str
    severity: int
    title: str
    summary: str
    origin_post_id: str
    post_ids: list[str]
    author_keys: list[str]
    complainants: int
    total_reach: int
    assignee_id: str | None
    assignee_name: str | None
    assignee_position: str | None
    department_id: str | None
    department_name: str | None
    assignment_explanation: str | None
    rule_id: str | None
    federal_fallback: bool
    escalation_level: int
    history_seq: int
    chain_head: str | None
    flagged: bool
    flag_reason: str | None
    needs_review: bool
    review_reasons: list[dict[str, Any]]
    possibly_critical: bool
    danger: float | None
    reply_publication: dict[str, Any] | None
    satisfaction: str | None
    priority: dict[str, Any] | None
    first_response_at: datetime | None
    first_response_due: datetime | None
    final_due: datetime | None
    sla_policy: str | None
    created_at: datetime
    updated_at: datetime
    last_post_at: datetime


@dataclass(slots=True, eq=False)
class IncidentRecord:
    """One `routing_incidents` row in memory, mutable while a batch decides about it."""

    id: str
    region_code: str
    region_name: str
    category: str
    title: str
    summary: str
    origin_post_id: str
    created_at: datetime
    updated_at: datetime
    last_post_at: datetime
    city: str | None = None
    address: str | None = None
    urgency: str = "normal"
    status: str = "new"
    severity: int = 1
    post_ids: list[str] = field(default_factory=list)
    author_keys: list[str] = field(default_factory=list)
    complainants: int = 1
    total_reach: int = 0
    assignee_id: str | None = None
    assignee_name: str | None = None
    assignee_position: str | None = None
    department_id: str | None = None
    department_name: str | None = None
    assignment_explanation: str | None = None
    rule_id: str | None = None
    federal_fallback: bool = False
    escalation_level: int = 0
    history_seq: int = 0
    chain_head: str | None = None
    escalated_to_id: str | None = None
    escalated_to_name: str | None = None
    flagged: bool = False
    flag_reason: str | None = None
    needs_review: bool = False
    review_reasons: list[dict[str, Any]] = field(default_factory=list)
    possibly_critical: bool = False
    danger: float | None = None
    redirect_chain: list[dict[str, Any]] = field(default_factory=list)
    reject_reason: str | None = None
    reply_text: str | None = None
    reply_url: str | None = None
    interim_text: str | None = None
    interim_url: str | None = None
    reply_publication: dict[str, Any] | None = None
    satisfaction: str | None = None
    priority: dict[str, Any] | None = None
    first_response_at: datetime | None = None
    first_response_due: datetime | None = None
    final_due: datetime | None = None
    sla_policy: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> IncidentRecord:
        """From a `select(Incident.__table__)` row (or any mapping of the columns)."""
        return cls(**dict(getattr(row, "_mapping", row)))

    def row(self, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The row to write: every column, or `columns` and the id."""
        names = RECORD_COLUMNS if columns is None else ("id", *columns)
        return {name: getattr(self, name) for name in names}


RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(IncidentRecord))


def assignee_of(incident: IncidentLike) -> Assignee | None:
    if incident.assignee_id is None:
        return None
    return Assignee(
        official_id=incident.assignee_id,
        name=incident.assignee_name or incident.assignee_id,
        position=incident.assignee_position,
        department_id=incident.department_id,
        department_name=incident.department_name,
    )


def snapshot(incident: IncidentLike) -> IncidentSnapshot:
    """The incident after a change, as every incident event carries it."""
    return IncidentSnapshot(
        incident_id=incident.id,
        region_code=incident.region_code,
        region_name=incident.region_name,
        city=incident.city,
        category=incident.category,
        urgency=Urgency(incident.urgency),
        status=IncidentStatus(incident.status),
        severity=incident.severity,
        title=incident.title,
        summary=incident.summary,
        assignee=assignee_of(incident),
        assignment_explanation=incident.assignment_explanation,
        post_ids=list(incident.post_ids),
        complainants=incident.complainants,
        total_reach=incident.total_reach,
        escalation_level=incident.escalation_level,
        first_response_due=incident.first_response_due,
        final_due=incident.final_due,
        sla_policy=incident.sla_policy,
        first_response_at=incident.first_response_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        revision=incident.history_seq,
        needs_review=incident.needs_review,
        review_reasons=review_reasons_of(incident),
        possibly_critical=incident.possibly_critical,
        danger=incident.danger,
        reply=ReplyState.model_validate(incident.reply_publication) if incident.reply_publication else None,
        satisfaction=Satisfaction(incident.satisfaction) if incident.satisfaction else None,
        priority=Priority.model_validate(incident.priority) if incident.priority else None,
    )


def review_reasons_of(incident: IncidentLike) -> list[ReviewReason]:
    return [ReviewReason.model_validate(reason) for reason in incident.review_reasons]


def incident_read(incident: IncidentLike) -> IncidentRead:
    return IncidentRead(
        incident_id=incident.id,
        region_code=incident.region_code,
        region_name=incident.region_name,
        city=incident.city,
        address=incident.address,
        category=incident.category,
        urgency=Urgency(incident.urgency),
        status=IncidentStatus(incident.status),
        severity=incident.severity,
        title=incident.title,
        assignee=assignee_of(incident),
        escalation_level=incident.escalation_level,
        flagged=incident.flagged,
        needs_review=incident.needs_review,
        possibly_critical=incident.possibly_critical,
        complainants=incident.complainants,
        total_reach=incident.total_reach,
        satisfaction=incident.satisfaction,
        first_response_due=incident.first_response_due,
        final_due=incident.final_due,
        first_response_at=incident.first_response_at,
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )
