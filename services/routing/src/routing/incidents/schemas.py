"""API models of incidents and of the actions officials take on them (the gateway contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from incidents_common.categories import CategoryName
from incidents_common.events import CORRECTED_FIELDS, Assignee, IncidentAction, IncidentStatus, ReviewReason, Urgency
from incidents_common.regions import REGIONS
from routing.deadlines.schemas import DeadlineRead


class ActionRequest(BaseModel):
    """One action. Who acts is not a field: routing records the caller of the service token (the
    official, else the user the gateway acts for, else the operator); an `actor` field is refused."""

    model_config = ConfigDict(extra="forbid")

    action: IncidentAction
    comment: str | None = Field(default=None, max_length=5000)
    reason: str | None = Field(default=None, max_length=1000, description="Required for reject and redirect")
    reply_text: str | None = Field(default=None, max_length=20000)
    reply_url: str | None = Field(default=None, max_length=2000)
    official_id: str | None = Field(default=None, max_length=100, description="reassign: the new assignee")
    target_department_id: str | None = Field(default=None, max_length=100, description="redirect: where it belongs")
    target_note: str | None = Field(default=None, max_length=1000, description="redirect: where it belongs, in words")
    # correct: the operator's decision on the classification (any of these; a value equal to the
    # current one confirms it). Each becomes classifier feedback for every post of the incident.
    is_incident: bool | None = Field(default=None, description="correct: false rejects it as not a complaint")
    category: CategoryName | None = Field(default=None, description="correct: the category")
    urgency: Urgency | None = Field(default=None, description="correct: the urgency; its SLA policy applies")
    region_code: str | None = Field(
        default=None, pattern=r"^\d{2}$", description="correct: the region (ФИАС/ГАР code) the complaint belongs to"
    )

    @model_validator(mode="after")
    def _required(self) -> ActionRequest:
        if self.action in (IncidentAction.reject, IncidentAction.redirect) and not (
            self.reason and self.reason.strip()
        ):
            raise ValueError(f"{self.action.value} needs a reason")
        if self.action in (IncidentAction.reply, IncidentAction.interim_answer) and not (
            self.reply_text and self.reply_text.strip()
        ):
            raise ValueError(f"{self.action.value} needs reply_text")
        if self.action == IncidentAction.reassign and not self.official_id:
            raise ValueError("reassign needs official_id")
        if self.action == IncidentAction.redirect and not (self.target_department_id or self.target_note):
            raise ValueError("redirect needs target_department_id or target_note (where the incident belongs)")
        stated = [name for name in CORRECTED_FIELDS if getattr(self, name) is not None]
        if self.action == IncidentAction.correct and not stated:
            raise ValueError("correct needs at least one of: " + ", ".join(CORRECTED_FIELDS))
        if self.action != IncidentAction.correct and stated:
            raise ValueError(f"{', '.join(stated)}: only the correct action takes classification fields")
        if self.region_code is not None and self.region_code not in REGIONS:
            raise ValueError(f"unknown region code {self.region_code!r}")
        return self


class IncidentPostRead(BaseModel):
    post_id: str
    external_id: str | None = None
    author: str | None = None
    url: str | None = None
    text: str
    reach: int
    similarity: float
    published_at: datetime
    attached_at: datetime


class HistoryRead(BaseModel):
    seq: int = Field(description="The entry's place in the incident's audit log, from 1")
    hash: str | None = Field(default=None, description="SHA-256 of the previous entry's hash and this entry")
    at: datetime
    actor: str
    action: str
    from_status: str | None = None
    to_status: str | None = None
    comment: str | None = None


class EscalationRead(BaseModel):
    level: int
    clock: str
    reason: str
    escalated_to_id: str | None = None
    escalated_to_name: str | None = None
    at: datetime


class ReplyRead(BaseModel):
    text: str | None = None
    url: str | None = None


class PublishedReplyRead(BaseModel):
    """A reply or interim answer and where publishing it stands (see routing.incidents.replies)."""

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


class ReactionRead(BaseModel):
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


class IncidentRead(BaseModel):
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


class IncidentDetail(IncidentRead):
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
    reply: ReplyRead | None = None
    interim_answer: ReplyRead | None = None
    replies: list[PublishedReplyRead] = Field(
        default_factory=list, description="Every reply and interim answer, newest first, with its publishing"
    )
    reactions: list[ReactionRead] = Field(
        default_factory=list, description="What was written in the complaint's thread after the reply, oldest first"
    )
    time_to_first_response_seconds: float | None = None
    time_to_first_response_working_hours: float | None = None
    redirect_chain: list[dict[str, Any]] = Field(default_factory=list)
    post_ids: list[str] = Field(default_factory=list)
    posts: list[IncidentPostRead] = Field(default_factory=list)
    deadlines: list[DeadlineRead] = Field(default_factory=list)
    escalations: list[EscalationRead] = Field(default_factory=list)
    history: list[HistoryRead] = Field(default_factory=list)


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    total: int
    limit: int
    offset: int


class AuditChainRead(BaseModel):
    """The verdict on an incident's audit log (incidents.chain): each entry holds the hash of the one
    before; `broken_at` is the seq of the first entry that does not hold, `reason` says why."""

    incident_id: str
    entries: int
    ok: bool
    head: str | None = Field(description="The hash of the last entry, as the incident stores it")
    broken_at: int | None = None
    reason: str | None = None


class AuditRootRead(BaseModel):
    """A region's daily root as stored and published, and as the entries give it now."""

    region_code: str
    day: date
    root: str = Field(description="The root stored and published when the day was sealed")
    recomputed: str = Field(description="The root of the day's entries as they are now")
    entries: int
    ok: bool


class UnplacedRead(BaseModel):
    """A post awaiting a person's decision (routing.incidents.unplaced), or decided."""

    post_id: str
    reason: str = Field(description="Why routing could not make it an incident on its own, in Russian")
    region_code: str | None = Field(description="The region the classifier or the source gave; null: none found")
    category: str
    urgency: str
    text: str = Field(description="The post's text (its first 2,000 characters)")
    url: str | None = None
    published_at: datetime | None = None
    held_at: datetime
    decision: str | None = Field(default=None, description="placed or dismissed; null while it waits")
    decided_at: datetime | None = None
    decided_by: str | None = None
    incident_id: str | None = Field(default=None, description="The incident a placed post opened or joined")
    comment: str | None = None
    not_a_complaint: bool | None = Field(
        default=None,
        description="dismissed: true when the person said it is no complaint at all (the classifier was taught "
        "so), false when it is a complaint nobody can act on; null while it waits or when placed",
    )


class UnplacedPage(BaseModel):
    items: list[UnplacedRead]
    total: int
    limit: int
    offset: int


class PlaceRequest(BaseModel):
    """Route the post as a complaint of this region (and category, when the classifier's was wrong)."""

    model_config = ConfigDict(extra="forbid")

    region_code: str = Field(pattern=r"^\d{2}$", examples=["64"])
    category: CategoryName | None = Field(default=None, description="Default: the classifier's category")
    city: str | None = Field(default=None, max_length=200, examples=["Энгельс"])
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _known_region(self) -> PlaceRequest:
        if self.region_code not in REGIONS:
            raise ValueError(f"unknown region code {self.region_code!r}")
        return self


class DismissRequest(BaseModel):
    """Nothing to route: the post is not a complaint, or a complaint nobody can act on."""

    model_config = ConfigDict(extra="forbid")

    not_a_complaint: StrictBool = Field(
        default=False,
        description="true: the post is not a complaint at all (an ad, a question, chatter), and the decision "
        "teaches the classifier so (a ClassificationCorrected with is_incident false). false (the default): "
        "a complaint, but nothing anyone can act on; the classifier learns nothing from it",
    )
    comment: str | None = Field(default=None, max_length=2000, examples=["не жалоба: реклама"])
