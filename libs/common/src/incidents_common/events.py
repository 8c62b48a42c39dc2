"""Event contracts shared by every service: one frozen pydantic model per event, its subject beside it.

Every event travels as a CloudEvents 1.0 structured-mode JSON document (`CloudEvent`), so other
government systems parse it with standard tooling. Extension attributes (lower-case alphanumerics,
as the CloudEvents spec requires): `schemaversion`, `originpostid` (the post that started the
chain) and `traceparent` (W3C trace context, from the CloudEvents distributed-tracing extension).

Subjects are versioned (`incidents.v1.…`); incident subjects end with the region code so that
subscribers and NATS permissions can select regions (`incidents.v1.incident.assigned.64`), and so do
operators' corrections of a classification (`incidents.v1.classification.corrected.64`; a correction
of a post no region was found for ends with `NO_REGION`, `…corrected.noregion`). A classified post
the classifier calls no complaint, with nothing to review, is published on a subject of its own
(`incidents.v1.post.noise`, see `PostClassified.subject_for`): about half of a social feed is such
chatter, and routing and the read model have nothing to do with it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incidents_common.tracing import current_traceparent

SUBJECT_ROOT = "incidents.v1"
# The last token of a region-scoped subject when the event has no region. Region codes are two digits,
# so it never names one, and no region's subscriber (filtered on its own code) receives it.
NO_REGION = "noregion"
DEAD_LETTER_ROOT = "incidents.deadletter"


class Contract(BaseModel):
    """Base of every event payload: immutable, unknown fields ignored for forward compatibility."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------------------------------------
# Shared vocabularies
# ---------------------------------------------------------------------------------------------


class SourceType(StrEnum):
    vk = "vk"
    telegram = "telegram"
    rss = "rss"
    push = "push"
    import_ = "import"


class Category(StrEnum):
    """The default taxonomy; the classifier's data file may extend it with operator categories."""

    housing_utilities = "housing_utilities"
    roads = "roads"
    public_transport = "public_transport"
    waste = "waste"
    landscaping = "landscaping"
    healthcare = "healthcare"
    education = "education"
    social_support = "social_support"
    ecology = "ecology"
    safety = "safety"
    stray_animals = "stray_animals"
    construction = "construction"
    government = "government"
    other = "other"


class Urgency(StrEnum):
    critical = "critical"
    high = "high"
    normal = "normal"


class Sentiment(StrEnum):
    negative = "negative"
    neutral = "neutral"
    positive = "positive"


class IncidentStatus(StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    answered = "answered"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"
    rejected = "rejected"


# ---------------------------------------------------------------------------------------------
# Post payloads
# ---------------------------------------------------------------------------------------------


class Author(Contract):
    id: str | None = None
    name: str | None = None
    profile_url: str | None = None
    followers: int | None = None


class PlaceHints(Contract):
    """What the source itself says about place: a community's city, a channel's title, coordinates."""

    city: str | None = None
    region_code: str | None = None
    title: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    # True: region_code was stated by whoever filed the post (an Open311 jurisdiction_id) and is the
    # post's region whatever its text names; otherwise region_code is one hint among the text's places.
    region_fixed: bool | None = None


class Reach(Contract):
    likes: int | None = None
    reposts: int | None = None
    comments: int | None = None
    views: int | None = None


class RepostRef(Contract):
    source_type: SourceType
    external_id: str
    author: Author | None = None


class PostCollected(Contract):
    """A post was collected (version 1) or an edited version of it was (version > 1)."""

    type: ClassVar[str] = "post.collected"
    post_id: str
    version: int = 1
    source_id: str | None = None
    source_type: SourceType
    external_id: str
    url: str | None = None
    author: Author | None = None
    text: str
    published_at: datetime
    collected_at: datetime
    language: str | None = None
    place_hints: PlaceHints = PlaceHints()
    parent_external_id: str | None = None
    repost_chain: list[RepostRef] = Field(default_factory=list)
    reach: Reach = Reach()


class LabelResult(Contract):
    """One classified field: its label, how sure the model is, and what decided it."""

    label: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)


class RegionResult(Contract):
    code: str | None = None
    name: str | None = None
    city: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)


class ReviewReason(Contract):
    """Why a classification needs an operator's review: the field in doubt and the figure that put it there."""

    field: Literal["danger", "is_incident", "category", "region"]
    confidence: float  # the figure that put the field in the grey zone, 0..1
    detail: str  # for the operator, in Russian, e.g. «возможна угроза жизни: вероятность 0.42»


class Classification(Contract):
    model_version: str
    is_incident: bool
    incident: LabelResult
    category: LabelResult
    region: RegionResult
    urgency: LabelResult
    sentiment: LabelResult
    danger: float | None = None  # probability the post reports danger to life or health now
    needs_review: bool = False
    review_reasons: list[ReviewReason] = []


class PostClassified(Contract):
    """A post version was classified. Carries the post's text so downstream needs no second lookup.

    Published on `incidents.v1.post.classified` when it is a complaint, when a person should review it,
    or when it is a later version of a post (an earlier one may have been a complaint, which it then
    updates); otherwise, the first version of a post that is no complaint, on `incidents.v1.post.noise`.
    A subscriber that wants every classified post reads both."""

    type: ClassVar[str] = "post.classified"
    post_id: str
    version: int = 1
    source_type: SourceType
    external_id: str
    url: str | None = None
    author: Author | None = None
    text: str
    published_at: datetime
    place_hints: PlaceHints = PlaceHints()
    repost_chain: list[RepostRef] = Field(default_factory=list)
    reach: Reach = Reach()
    classification: Classification

    @classmethod
    def subject_for(cls, *, is_incident: bool, needs_review: bool, version: int) -> str:
        if is_incident or needs_review or version > 1:
            return SUBJECT_POST_CLASSIFIED
        return SUBJECT_POST_NOISE


# ---------------------------------------------------------------------------------------------
# Incident payloads: every incident event carries the incident's snapshot after the change, so a
# subscriber can keep a read model without calling back.
# ---------------------------------------------------------------------------------------------


class Assignee(Contract):
    official_id: str
    name: str
    position: str | None = None
    department_id: str | None = None
    department_name: str | None = None


# ---------------------------------------------------------------------------------------------
# Publishing an official's answer where the complaint was (routing asks, the collector publishes:
# it holds the sources' credentials) and what came of it.
# ---------------------------------------------------------------------------------------------


class IncidentAction(StrEnum):
    """What an operator or official may do to an incident: the gateway accepts these and routing carries
    them out, so the vocabulary is part of the contract between them."""

    take = "take"
    interim_answer = "interim_answer"
    reply = "reply"
    resolve = "resolve"
    close = "close"
    reject = "reject"
    reopen = "reopen"
    reassign = "reassign"
    redirect = "redirect"
    correct = "correct"


# The classification fields an operator's `correct` action may change.
CORRECTED_FIELDS = ("is_incident", "category", "urgency", "region_code")


class ReplyKind(StrEnum):
    reply = "reply"  # the answer: once published it stops the incident's clocks
    interim = "interim"  # an interim answer («работы начаты, срок — до пятницы»)


class PublicationStatus(StrEnum):
    pending = "pending"  # asked; the collector has not answered yet
    published = "published"  # the comment or message is out there (`url`)
    failed = "failed"  # it could not be published (`reason`): the official must act
    unconfirmed = "unconfirmed"  # the call may have gone out before a crash: never sent twice, check by hand
    recorded_only = "recorded_only"  # the source has no way back (pushed or imported posts): only recorded


class ReplyState(Contract):
    """Where an official's latest reply (or interim answer) stands: asked to be published, out there
    with its link, failed with the reason, unconfirmed, or only recorded."""

    reply_id: str
    kind: ReplyKind
    status: PublicationStatus
    channel: str | None = Field(default=None, description="vk, telegram, manual (posted by hand) or none")
    url: str | None = None
    reason: str | None = Field(default=None, description="Why it failed or is unconfirmed, for the official")
    error_code: str | None = None
    text: str | None = Field(default=None, max_length=20000, description="The reply as the official gave it")
    requested_at: datetime
    at: datetime = Field(description="When it came to this status")


class ReactionLabel(StrEnum):
    thanks = "thanks"  # fixed, thank you
    not_fixed = "not_fixed"  # still not done («не сделали», «ничего не изменилось», «опять»)
    new_problem = "new_problem"  # another problem
    other = "other"


class Satisfaction(StrEnum):
    satisfied = "satisfied"  # the complainant thanked (and did not say later it is not fixed)
    not_satisfied = "not_satisfied"  # the complainant said it is not fixed
    no_reaction = "no_reaction"  # a reply was published and the complainant has not reacted


class PriorityPart(Contract):
    """One factor of an incident's priority: what was measured and what it contributes."""

    # A plain string, not a Literal: a part a later release adds must not make a snapshot unreadable.
    name: str = Field(description="urgency, reach, velocity or coordination")
    value: float = Field(
        description="The measurement: the urgency's base, the weighted reach, posts (distinct authors) in an hour, "
        "or the share of posts from coordinated accounts"
    )
    factor: float = Field(description="What it contributes to the score (a factor of the product)")
    explanation: str = Field(description="One sentence for a person, in Russian, with the formula")


class Priority(Contract):
    """How urgently an operator should look at the incident: its urgency's base, raised by the reach of
    its posts and how fast they spread, lowered for posts from accounts that look coordinated."""

    score: float = Field(
        description="urgency base × reach factor × velocity factor × coordination factor, from 2 (normal, no "
        "reach, all coordinated) to 1200 (critical, widest reach, fastest spread); higher first"
    )
    parts: list[PriorityPart]
    formula: str = Field(description="The formula with the numbers put in, e.g. «40 × 1.80 × 1.30 × 0.55 = 51.5»")


class IncidentSnapshot(Contract):
    incident_id: str
    region_code: str
    region_name: str
    city: str | None = None
    category: str
    urgency: Urgency
    status: IncidentStatus
    severity: int = 1
    title: str
    summary: str
    assignee: Assignee | None = None
    assignment_explanation: str | None = None
    post_ids: list[str] = Field(default_factory=list)
    complainants: int = 1
    total_reach: int = 0
    escalation_level: int = 0
    first_response_due: datetime | None = None
    final_due: datetime | None = None
    sla_policy: str | None = Field(
        default=None,
        description="The SLA policy its running clocks follow, by name (routing's most specific match for its "
        "region, category and urgency); after the clocks stop, the one they last ran under",
    )
    first_response_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    revision: int = Field(
        default=0,
        description=(
            "Grows with every change of the incident (the number of its history entries): of two "
            "snapshots, the one with the higher revision is the later (updated_at can tie)"
        ),
    )
    needs_review: bool = Field(
        default=False, description="A post of the incident was classified in a grey zone; an operator has not decided"
    )
    review_reasons: list[ReviewReason] = Field(default_factory=list, description="Why it awaits review, per field")
    possibly_critical: bool = Field(
        default=False,
        description="A danger reason is under review: the critical clock runs until an operator decides",
    )
    danger: float | None = Field(default=None, description="The highest danger probability among its posts")
    reply: ReplyState | None = Field(default=None, description="The latest reply or interim answer and its publishing")
    satisfaction: Satisfaction | None = Field(
        default=None,
        description="The complainant's reaction to the published reply (none before a reply was published)",
    )
    priority: Priority | None = Field(
        default=None,
        description="Its place in an operator's queue, with the parts of the score (none from routing before "
        "issue 15, until a post joins the incident)",
    )


class IncidentEvent(Contract):
    """Base of incident events; the subject ends with the incident's region code (`subject_region`), but
    for IncidentMovedOut's, which ends with the region the incident left."""

    verb: ClassVar[str]
    incident: IncidentSnapshot

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.incident.{cls.verb}.{region_code}"

    @property
    def subject_region(self) -> str:
        """The region whose subject carries the event, whose subscribers it is for: the incident's."""
        return self.incident.region_code


class IncidentCreated(IncidentEvent):
    type: ClassVar[str] = "incident.created"
    verb: ClassVar[str] = "created"
    post_id: str


class IncidentAssigned(IncidentEvent):
    """The incident was given to an official: by routing's rules on its own (a new incident; `actor`
    null), or by a person's action (a reassignment, a redirect, a correction that moved it), who is
    `actor`, with the reason given in `comment`."""

    type: ClassVar[str] = "incident.assigned"
    verb: ClassVar[str] = "assigned"
    assignee: Assignee
    explanation: str = Field(description="Why this official, for a person: the rule or the action, and the choice")
    rule_id: str | None = None
    actor: str | None = Field(
        default=None,
        description="Who made the assignment: the user whose action (reassign, redirect, correct) it was, as "
        "routing's audit log names them; null when routing assigned it by its rules on its own",
    )
    comment: str | None = Field(
        default=None,
        description="The reason given, as routing's audit log records it beside the explanation: a redirect's "
        "(«Перенаправлен: …», with the competent body when one was named), the reassigning person's comment, "
        "the correction that moved it; null when none was given",
    )


class IncidentStatusChanged(IncidentEvent):
    type: ClassVar[str] = "incident.status_changed"
    verb: ClassVar[str] = "status_changed"
    from_status: IncidentStatus
    to_status: IncidentStatus
    actor: str
    comment: str | None = None


class IncidentPostAttached(IncidentEvent):
    """A further post about the same problem joined an open incident (clustering)."""

    type: ClassVar[str] = "incident.post_attached"
    verb: ClassVar[str] = "post_attached"
    post_id: str
    similarity: float
    explanation: str


class IncidentDeadlineWarning(IncidentEvent):
    type: ClassVar[str] = "incident.deadline_warning"
    verb: ClassVar[str] = "deadline_warning"
    clock: str
    due_at: datetime
    share_used: float


class IncidentEscalated(IncidentEvent):
    type: ClassVar[str] = "incident.escalated"
    verb: ClassVar[str] = "escalated"
    level: int
    reason: str
    escalated_to: Assignee | None = None


class IncidentReplyPublication(IncidentEvent):
    """An official's reply was published where the complaint was, failed to be (the clocks run on and
    the incident is back in progress), or could only be recorded."""

    type: ClassVar[str] = "incident.reply_publication"
    verb: ClassVar[str] = "reply_publication"
    reply: ReplyState


class IncidentReaction(IncidentEvent):
    """Somebody reacted in the complaint's thread to the published reply (labelled by the classifier).
    The complainant's «not fixed» reopens the incident or flags it (routing's setting)."""

    type: ClassVar[str] = "incident.reaction"
    verb: ClassVar[str] = "reaction"
    reaction_id: str
    label: ReactionLabel
    by_complainant: bool
    text: str = Field(max_length=20000)
    url: str | None = None


class ClassificationValues(Contract):
    """The fields of a post's classification an operator can correct; None: not stated."""

    is_incident: bool | None = None
    category: str | None = None
    urgency: Urgency | None = None
    region_code: str | None = None

    def stated(self) -> list[str]:
        """The names of the fields that have a value."""
        return [name for name, value in self if value is not None]


class IncidentCorrected(IncidentEvent):
    """An operator decided on the incident's classification (the `correct` action): the review is over."""

    type: ClassVar[str] = "incident.corrected"
    verb: ClassVar[str] = "corrected"
    actor: str
    corrected: ClassificationValues
    previous: ClassificationValues
    review_reasons: list[ReviewReason] = Field(default_factory=list, description="What was under review")
    comment: str | None = None


class IncidentMovedOut(IncidentEvent):
    """The incident left the region: an operator's correction gave it another region (the `correct` action
    with `region_code`).

    The one incident event published on the subject of the region the incident left,
    `incidents.v1.incident.moved_out.<from_region_code>`, not on its snapshot's region: the subscribers
    of that region (filtered on `incidents.v1.incident.*.<code>`) hear nothing more of the incident
    (unless it is moved back), so this is its last event for them: a region's own read model drops the
    incident, or keeps it as moved away. The snapshot is the incident after the move, in its new region
    (`to_region_code`) with its new assignee there. The new region reads the move on its own subjects:
    `incident.corrected` (`previous.region_code` is the region it left) and `incident.assigned`, and
    every later event."""

    type: ClassVar[str] = "incident.moved_out"
    verb: ClassVar[str] = "moved_out"
    from_region_code: str = Field(description="The region the incident left: the last token of the subject")
    to_region_code: str = Field(description="The region it moved to: the snapshot's region_code")
    actor: str = Field(description="Who moved it: the operator who corrected its region")
    comment: str | None = Field(default=None, description="The operator's comment, if any")

    @property
    def subject_region(self) -> str:
        """The region it left: that region's subscribers are the ones to tell."""
        return self.from_region_code


class ClassificationCorrected(Contract):
    """An operator decided what a post is: feedback for the classifier.

    Made by a correction through an incident action (one event per post of the incident), by placing
    a post routing kept for a person (a complaint, of the region it chose), or by dismissing one as not
    a complaint (`corrected.is_incident` false, no incident). `corrected` holds the fields the operator
    decided (a field confirmed unchanged counts: it settles a grey zone), `previous` what the post
    carried before."""

    type: ClassVar[str] = "classification.corrected"
    post_id: str
    text: str
    corrected: ClassificationValues
    previous: ClassificationValues
    operator: str
    comment: str | None = None
    incident_id: str | None = Field(
        default=None,
        description="The incident the correction was made on, or that placing the post opened or joined; "
        "null: none (a post dismissed as not a complaint)",
    )
    region_code: str | None = Field(
        default=None,
        description="The incident's region when it was corrected, or the dismissed post's (the subject's last "
        f"token); null: the post has none, and the subject ends with {NO_REGION!r}",
    )
    corrected_at: datetime
    model_version: str | None = None
    danger: float | None = None
    review_reasons: list[ReviewReason] = Field(default_factory=list)

    @classmethod
    def subject_for(cls, region_code: str | None) -> str:
        return f"{SUBJECT_ROOT}.classification.corrected.{region_code or NO_REGION}"


class AuditRootPublished(Contract):
    """A region's audit log of one day, summed (routing's incidents.chain): keep it. Every action on an
    incident is a history entry chained by hash to the one before; `root` is the SHA-256 over the day's
    entry hashes in order. A root computed again later that differs from this one shows the day's
    record was rewritten."""

    type: ClassVar[str] = "incident.audit_root"
    region_code: str
    day: date = Field(description="The UTC day the entries were recorded on")
    root: str = Field(description="SHA-256 (hex) over the day's entry hashes in order (time, incident, seq)")
    entries: int = Field(ge=0)
    computed_at: datetime

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.incident.audit_root.{region_code}"


class ReplyRequested(Contract):
    """Publish an official's reply where the complaint was. `reply_id` is the idempotency key: the
    collector publishes a reply id once, however often it is asked."""

    type: ClassVar[str] = "reply.requested"
    reply_id: str
    incident_id: str
    region_code: str
    kind: ReplyKind
    text: str = Field(max_length=20000)
    post_id: str = Field(description="The complaint answered (the incident's first post)")
    source_type: SourceType | None = None
    external_id: str | None = Field(
        default=None, description="The post's id at its source (VK: <owner_id>_<post_id>, a comment's too)"
    )
    actor: str
    requested_at: datetime

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.reply.requested.{region_code}"


class ReplyPublication(Contract):
    """What came of publishing a reply: published (with its link), failed (with the reason an
    official can act on), or unconfirmed. One event per outcome; the last one holds."""

    type: ClassVar[str] = "reply.publication"
    reply_id: str
    incident_id: str
    region_code: str
    kind: ReplyKind
    status: PublicationStatus
    channel: str = Field(description="vk, telegram or none")
    url: str | None = Field(default=None, description="The published comment or message")
    published_id: str | None = Field(
        default=None, description="Its id at the source (VK comment id, Telegram message id)"
    )
    reason: str | None = Field(default=None, description="Why it failed or is unconfirmed, for the official")
    error_code: str | None = Field(default=None, description="The source's error, e.g. vk:15, telegram:403")
    attempts: int = Field(default=0, ge=0)
    at: datetime

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.reply.publication.{region_code}"


# ---------------------------------------------------------------------------------------------
# The citizen's reaction: what people write in the complaint's thread after a reply was published
# there (the collector watches the thread, the classifier labels each, routing acts on it).
# ---------------------------------------------------------------------------------------------


class ReactionCollected(Contract):
    """A comment or message in the complaint's thread, written after an official's reply was published
    there, within the watch period."""

    type: ClassVar[str] = "reaction.collected"
    reaction_id: str = Field(description="The collector's id of the comment or message (unique)")
    reply_id: str
    incident_id: str
    region_code: str
    source_type: SourceType
    external_id: str
    url: str | None = None
    author_id: str | None = None
    by_complainant: bool = Field(description="Written by the author of the complaint")
    text: str = Field(max_length=20000)
    published_at: datetime

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.reaction.collected.{region_code}"


class ReactionClassified(Contract):
    """A reaction labelled by the classifier: thanks, not fixed, a new problem, or other."""

    type: ClassVar[str] = "reaction.classified"
    reaction_id: str
    reply_id: str
    incident_id: str
    region_code: str
    by_complainant: bool
    text: str = Field(max_length=20000)
    published_at: datetime
    url: str | None = None
    label: ReactionLabel
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list, description="The words that decided it")
    model_version: str

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.reaction.classified.{region_code}"


# ---------------------------------------------------------------------------------------------
# Alerts: what a control centre must see at once, across incidents (routing's surge detector).
# ---------------------------------------------------------------------------------------------


class SurgeAlert(Contract):
    """Complaints about one category flared up in one place: far more in the last window than the
    place's history makes likely. Raised once per place × category × window, and not again for that
    place and category until the cool-down has passed."""

    type: ClassVar[str] = "alert.surge"
    alert_id: str = Field(
        description="Stable per place × category × window: a redelivered or repeated alert carries the same id"
    )
    region_code: str = Field(description="Two-digit ФИАС/ГАР code of the region (the subject's last token)")
    region_name: str = Field(description="The region's official name")
    city: str | None = Field(
        default=None, description="The town; null or absent: the region as a whole (complaints that named no town)"
    )
    category: str = Field(description="The complaints' category, e.g. housing_utilities")
    window_start: datetime = Field(description="Start of the window counted (UTC, inclusive)")
    window_end: datetime = Field(description="End of the window counted (UTC, exclusive)")
    count: int = Field(ge=0, description="Complaints in the window")
    baseline: float = Field(
        ge=0, description="Complaints expected per window: the place's mean over its history, at least a floor"
    )
    threshold: int = Field(ge=0, description="The smallest count that would have raised this alert")
    score: float = Field(description="The statistic's value (for poisson_upper_tail: P(X ≥ count); smaller is rarer)")
    statistic: str = Field(description="Which statistic decided, e.g. poisson_upper_tail")
    explanation: str = Field(description="One sentence for a person, in Russian: what was counted against what")
    incident_ids: list[str] = Field(
        default_factory=list, description="The incidents that gathered the window's complaints (at most 200)"
    )
    post_ids: list[str] = Field(
        default_factory=list, max_length=50, description="Complaints of the window (at most 50)"
    )
    raised_at: datetime = Field(description="When routing raised it (UTC)")

    @classmethod
    def subject_for(cls, region_code: str) -> str:
        return f"{SUBJECT_ROOT}.alert.surge.{region_code}"


SUBJECT_POST_COLLECTED = f"{SUBJECT_ROOT}.post.collected"
SUBJECT_POST_CLASSIFIED = f"{SUBJECT_ROOT}.post.classified"
SUBJECT_POST_NOISE = f"{SUBJECT_ROOT}.post.noise"
SUBJECT_INCIDENT_ALL = f"{SUBJECT_ROOT}.incident.>"
SUBJECT_CLASSIFICATION_ALL = f"{SUBJECT_ROOT}.classification.>"
SUBJECT_CLASSIFICATION_CORRECTED_ALL = f"{SUBJECT_ROOT}.classification.corrected.>"
SUBJECT_REPLY_ALL = f"{SUBJECT_ROOT}.reply.>"
SUBJECT_REPLY_REQUESTED_ALL = f"{SUBJECT_ROOT}.reply.requested.>"
SUBJECT_REPLY_PUBLICATION_ALL = f"{SUBJECT_ROOT}.reply.publication.>"
SUBJECT_REACTION_ALL = f"{SUBJECT_ROOT}.reaction.>"
SUBJECT_REACTION_COLLECTED_ALL = f"{SUBJECT_ROOT}.reaction.collected.>"
SUBJECT_REACTION_CLASSIFIED_ALL = f"{SUBJECT_ROOT}.reaction.classified.>"
SUBJECT_ALERT_ALL = f"{SUBJECT_ROOT}.alert.>"

EVENT_SUBJECTS: dict[type[Contract], str] = {
    PostCollected: SUBJECT_POST_COLLECTED,
    PostClassified: SUBJECT_POST_CLASSIFIED,
    IncidentCreated: f"{SUBJECT_ROOT}.incident.created.{{region}}",
    IncidentAssigned: f"{SUBJECT_ROOT}.incident.assigned.{{region}}",
    IncidentStatusChanged: f"{SUBJECT_ROOT}.incident.status_changed.{{region}}",
    IncidentPostAttached: f"{SUBJECT_ROOT}.incident.post_attached.{{region}}",
    IncidentDeadlineWarning: f"{SUBJECT_ROOT}.incident.deadline_warning.{{region}}",
    IncidentEscalated: f"{SUBJECT_ROOT}.incident.escalated.{{region}}",
    IncidentCorrected: f"{SUBJECT_ROOT}.incident.corrected.{{region}}",
    IncidentMovedOut: f"{SUBJECT_ROOT}.incident.moved_out.{{region}}",
    IncidentReplyPublication: f"{SUBJECT_ROOT}.incident.reply_publication.{{region}}",
    IncidentReaction: f"{SUBJECT_ROOT}.incident.reaction.{{region}}",
    ClassificationCorrected: f"{SUBJECT_ROOT}.classification.corrected.{{region}}",
    AuditRootPublished: f"{SUBJECT_ROOT}.incident.audit_root.{{region}}",
    ReplyRequested: f"{SUBJECT_ROOT}.reply.requested.{{region}}",
    ReplyPublication: f"{SUBJECT_ROOT}.reply.publication.{{region}}",
    ReactionCollected: f"{SUBJECT_ROOT}.reaction.collected.{{region}}",
    ReactionClassified: f"{SUBJECT_ROOT}.reaction.classified.{{region}}",
    SurgeAlert: f"{SUBJECT_ROOT}.alert.surge.{{region}}",
}
EVENT_TYPES: dict[str, type[Contract]] = {
    f"ru.incidents.{model.type}": model  # type: ignore[attr-defined]  # each event model declares `type`
    for model in EVENT_SUBJECTS
}
SCHEMA_VERSION = "1"


def event_type_name(model: type[Contract]) -> str:
    return f"ru.incidents.{model.type}"  # type: ignore[attr-defined]  # each event model declares `type`


def subject_of(data: Contract) -> str:
    """The NATS subject an event payload is published on."""
    if isinstance(data, PostClassified):
        c = data.classification
        return data.subject_for(is_incident=c.is_incident, needs_review=c.needs_review, version=data.version)
    if isinstance(data, IncidentEvent):
        return data.subject_for(data.subject_region)
    if isinstance(data, ClassificationCorrected):  # its region may be unknown (NO_REGION)
        return data.subject_for(data.region_code)
    if isinstance(
        data,
        AuditRootPublished | ReplyRequested | ReplyPublication | ReactionCollected | ReactionClassified | SurgeAlert,
    ):
        return data.subject_for(data.region_code)
    return EVENT_SUBJECTS[type(data)]


def dead_letter_subject(consumer: str) -> str:
    return f"{DEAD_LETTER_ROOT}.{consumer}"


# ---------------------------------------------------------------------------------------------
# The CloudEvents envelope
# ---------------------------------------------------------------------------------------------

DataT = TypeVar("DataT", bound=Contract)


class CloudEvent(BaseModel, Generic[DataT]):
    """CloudEvents 1.0, structured JSON mode."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = None
    schemaversion: str = SCHEMA_VERSION
    originpostid: str | None = None
    traceparent: str | None = None
    data: DataT


class BadEvent(ValueError):
    """A message that can never be processed: it goes to the dead-letter subject, with this reason."""


@lru_cache(maxsize=64)
def envelope_class(model: type[Contract]) -> type[CloudEvent[Any]]:
    """The CloudEvent class parametrised with `model`; cached, as pydantic re-resolves generics per call."""
    return CloudEvent[model]  # type: ignore[valid-type]  # the generic parametrised at run time


def new_event(
    data: DataT,
    *,
    source: str,
    origin_post_id: str | None = None,
    subject: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
) -> CloudEvent[DataT]:
    """Wrap a payload in a CloudEvent; the id doubles as the JetStream de-duplication id."""
    if traceparent is None:
        traceparent = current_traceparent()
    return envelope_class(type(data))(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=event_type_name(type(data)),
        time=datetime.now(UTC),
        subject=subject,
        originpostid=origin_post_id,
        traceparent=traceparent,
        data=data,
    )


def encode_event(event: CloudEvent[Any]) -> bytes:
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def encode_envelope(
    contract: type[Contract],
    data: dict[str, Any],
    *,
    source: str,
    time: str,
    origin_post_id: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
) -> tuple[str, bytes]:
    """(event id, JSON) of the same envelope `new_event` + `encode_event` give, for a payload already
    in its JSON form (`data`, `time` as ISO 8601 text): the fast path of a producer that writes
    thousands of events a batch, where building the pydantic models cost a third of the time. The
    producer's tests decode what it writes (`decode_event`), which checks the payload."""
    event_id = event_id or str(uuid.uuid4())
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type_name(contract),
        "time": time,
        "datacontenttype": "application/json",
        "schemaversion": SCHEMA_VERSION,
    }
    if origin_post_id is not None:
        envelope["originpostid"] = origin_post_id
    if traceparent:
        envelope["traceparent"] = traceparent
    envelope["data"] = data
    return event_id, orjson.dumps(envelope)


def decode_event(raw: bytes) -> CloudEvent[Any]:
    """Parse a CloudEvent and its typed payload; BadEvent with a readable reason otherwise."""
    return decode_received(raw)[0]


def decode_received(raw: bytes) -> tuple[CloudEvent[Any], dict[str, Any]]:
    """`decode_event`, and the JSON document it parsed (validation leaves it as it was): a consumer
    that stores the event, or part of it, reads that instead of parsing the message again."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadEvent("not a CloudEvents JSON object")
    model = EVENT_TYPES.get(str(document.get("type")))
    if model is None:
        raise BadEvent(f"unknown event type {document.get('type')!r}")
    if document.get("specversion") != "1.0":
        raise BadEvent(f"unsupported specversion {document.get('specversion')!r}")
    try:
        return envelope_class(model).model_validate(document), document
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5])
        raise BadEvent(f"invalid {model.__name__}: {problems}") from exc
