"""The incident as routing answers an action on it, in models of the gateway's own.

An action (and the release of a held reply) is applied by routing, the authority on incidents; the
gateway's read model catches up through the events a moment later. So the answer to an action is
routing's view of the incident right after it: routing's `IncidentDetail` and its parts. The gateway
imports no routing code, so these copy routing's shapes; `tests/test_contracts.py` holds each to
routing's (and `ReplyScore` to the classifier's) committed OpenAPI, field by field.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from api_gateway.schemas import example
from incidents_common.events import Assignee, IncidentStatus, ReviewReason, Urgency
from incidents_common.problems import ProblemError


class Clock(StrEnum):
    first_reaction = "first_reaction"
    final = "final"


class DeadlineState(StrEnum):
    pending = "pending"
    met = "met"
    breached = "breached"
    paused = "paused"
    cancelled = "cancelled"


class RoutedPost(BaseModel):
    post_id: str
    external_id: str | None = None
    author: str | None = None
    url: str | None = None
    text: str
    reach: int
    similarity: float
    published_at: datetime
    attached_at: datetime


class RoutedHistoryEntry(BaseModel):
    seq: int = Field(description="The entry's place in the incident's audit log, from 1")
    hash: str | None = Field(default=None, description="SHA-256 of the previous entry's hash and this entry")
    at: datetime
    actor: str
    action: str
    from_status: str | None = None
    to_status: str | None = None
    comment: str | None = None


class RoutedEscalation(BaseModel):
    level: int
    clock: str
    reason: str
    escalated_to_id: str | None = None
    escalated_to_name: str | None = None
    at: datetime


class RoutedReplyText(BaseModel):
    text: str | None = None
    url: str | None = None


class RoutedReply(BaseModel):
    """A reply or interim answer and where publishing it stands."""

    reply_id: str
    kind: str = Field(description="reply or interim")
    text: str
    actor: str
    status: str = Field(description="pending, published, failed, unconfirmed or recorded_only")
    channel: str | None = Field(default=None, description="vk, telegram, manual (posted by hand) or none")
    url: str | None = Field(default=None, description="The published comment or message")
    reason: str | None = Field(default=None, description="Why it failed or is unconfirmed: what to do")
    error_code: str | None = None
    attempts: int = 0
    created_at: datetime
    updated_at: datetime


class RoutedReaction(BaseModel):
    """A comment or message in the complaint's thread after a published reply, as the classifier read it."""

    reaction_id: str
    reply_id: str
    by_complainant: bool
    label: str = Field(description="thanks, not_fixed, new_problem or other")
    confidence: float
    evidence: list[str] = Field(default_factory=list, description="The words that decided the label")
    text: str
    url: str | None = None
    published_at: datetime


class RoutedDeadline(BaseModel):
    """One of the incident's clocks: its SLA policy, its working hours and where it stands."""

    clock: Clock
    state: DeadlineState
    level: int
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    working_hours: float
    timezone: str
    policy: str
    warned_at: datetime | None = None
    closed_at: datetime | None = None


class ReplyScore(BaseModel):
    """The classifier's score of a reply: does it answer the complaint, or is it a formula («отписка»)?"""

    quality: float = Field(ge=0.0, le=1.0, description="One minus the model's probability of an отписка")
    verdict: Literal["answer", "otpiska"]
    mentions_problem: bool
    has_action: bool
    has_term: bool
    has_who: bool
    reasons: list[str] = Field(description="Formulas found and what is missing, in Russian")
    suggestions: list[str] = Field(description="What to add, for the official («укажите срок» …)")
    evidence: dict[str, list[str]] = Field(
        description="The words behind each answer: проблема, действие, срок, кто, формулы"
    )
    model_version: str


ROUTED_EXAMPLE: dict[str, Any] = {
    "incident_id": "inc-8f3a",
    "region_code": "64",
    "region_name": "Саратовская область",
    "city": "Саратов",
    "category": "roads",
    "urgency": "medium",
    "status": "in_progress",
    "severity": 2,
    "title": "Яма на ул. Ленина",
    "assignee": {"official_id": "off-64-roads-1", "name": "Петров Иван Сергеевич"},
    "escalation_level": 0,
    "flagged": False,
    "complainants": 3,
    "total_reach": 530,
    "first_response_due": "2026-11-26T17:15:00Z",
    "final_due": "2026-12-03T17:15:00Z",
    "created_at": "2026-11-26T09:15:00Z",
    "updated_at": "2026-11-26T10:00:00Z",
    "summary": "Глубокая яма у дома 12, жалуются три жителя",
    "assignment_explanation": "правило rule-64-roads: категория roads в регионе 64 → Комитет дорожного хозяйства",
    "rule_id": "rule-64-roads",
    "deadlines": [
        {
            "clock": "first_reaction",
            "state": "pending",
            "level": 0,
            "started_at": "2026-11-26T09:15:00Z",
            "warn_at": "2026-11-26T15:15:00Z",
            "due_at": "2026-11-26T17:15:00Z",
            "working_hours": 8.0,
            "timezone": "Europe/Saratov",
            "policy": "default",
        }
    ],
    "history": [
        {
            "seq": 2,
            "at": "2026-11-26T10:00:00Z",
            "actor": "off-64-roads-1",
            "action": "take",
            "to_status": "in_progress",
        }
    ],
}


class RoutedIncident(BaseModel):
    """The incident right after the action, as routing (the authority) answers; with the classifier's
    score of the reply when the action was a reply or an interim answer and it was scored."""

    model_config = example(**ROUTED_EXAMPLE)

    incident_id: str
    region_code: str
    region_name: str
    city: str | None = None
    address: str | None = Field(
        default=None,
        description=(
            "The street key its posts cluster on, normalised (lower case, stems: «ленин» for «ул. Ленина»); "
            "for matching, not for display: the posts carry the words as written"
        ),
    )
    category: str
    urgency: Urgency
    status: IncidentStatus
    severity: int
    title: str
    assignee: Assignee | None = None
    escalation_level: int
    flagged: bool
    needs_review: bool = Field(default=False, description="Awaits an operator's decision on its classification")
    possibly_critical: bool = Field(
        default=False, description="On the critical clock until an operator decides (a danger reason under review)"
    )
    complainants: int
    total_reach: int
    satisfaction: str | None = Field(
        default=None,
        description="The complainant's reaction to the published reply: satisfied, not_satisfied, no_reaction",
    )
    first_response_due: datetime | None = None
    final_due: datetime | None = None
    first_response_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    summary: str
    assignment_explanation: str | None = None
    rule_id: str | None = None
    federal_fallback: bool = False
    flag_reason: str | None = None
    escalated_to_id: str | None = None
    escalated_to_name: str | None = None
    reject_reason: str | None = None
    review_reasons: list[ReviewReason] = Field(default_factory=list)
    danger: float | None = None
    reply: RoutedReplyText | None = None
    interim_answer: RoutedReplyText | None = None
    replies: list[RoutedReply] = Field(
        default_factory=list, description="Every reply and interim answer, newest first, with its publishing"
    )
    reactions: list[RoutedReaction] = Field(
        default_factory=list, description="What was written in the complaint's thread after the reply, oldest first"
    )
    time_to_first_response_seconds: float | None = None
    time_to_first_response_working_hours: float | None = None
    redirect_chain: list[dict[str, Any]] = Field(default_factory=list)
    post_ids: list[str] = Field(default_factory=list)
    posts: list[RoutedPost] = Field(default_factory=list)
    deadlines: list[RoutedDeadline] = Field(default_factory=list)
    escalations: list[RoutedEscalation] = Field(default_factory=list)
    history: list[RoutedHistoryEntry] = Field(default_factory=list)
    # The gateway's own: what the classifier made of the reply (absent when not a reply, or unscored).
    reply_quality: ReplyScore | None = Field(
        default=None, description="The classifier's score of the reply or interim answer, when it was scored"
    )


class RoutedAnswerInvalid(ProblemError):
    """Routing applied the change but answered in a shape the gateway does not know (a version skew):
    not worth a retry, which would act twice; the incident is read to see where it stands."""

    status, slug, title = 502, "upstream-answer-invalid", "Routing's answer does not match its contract"


def routed_incident(answer: Any, incident_id: str) -> RoutedIncident:
    """Routing's answer to an action as the gateway's model (see RoutedAnswerInvalid)."""
    try:
        return RoutedIncident.model_validate(answer)
    except ValidationError as exc:
        raise RoutedAnswerInvalid(
            f"the action on {incident_id} was applied, but routing's answer does not match the contract "
            f"({exc.error_count()} errors): read the incident with GET /v1/incidents/{incident_id}"
        ) from exc
