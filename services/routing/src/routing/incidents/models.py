"""Incidents, the posts clustered into them, and their audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow

OPEN_STATUSES = ("new", "assigned", "in_progress", "answered", "reopened")
"""Statuses that count towards an official's load and that a new post can still join."""
LOAD_STATUSES = ("new", "assigned", "in_progress", "reopened")
# The partial index's predicate: a query uses the index only when its WHERE names these same statuses.
OPEN_ASSIGNEE_PREDICATE = "status IN (" + ", ".join(f"'{status}'" for status in LOAD_STATUSES) + ")"


class Incident(SQLModel, table=True):
    __tablename__ = "routing_incidents"
    __table_args__ = (
        Index("ix_routing_incidents_cluster", "region_code", "category", "status", "last_post_at"),
        # Every batch counts its officials' open incidents (directory.service.open_counts): from this
        # index of open incidents alone, not by reading every incident an official ever had.
        Index(
            "ix_routing_incidents_open_assignee",
            "assignee_id",
            postgresql_where=text(OPEN_ASSIGNEE_PREDICATE),
            sqlite_where=text(OPEN_ASSIGNEE_PREDICATE),
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=2, index=True)
    region_name: str = Field(max_length=200)
    city: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    category: str = Field(max_length=50, index=True)
    urgency: str = Field(default="normal", max_length=20)
    status: str = Field(default="new", max_length=20, index=True)
    severity: int = 1
    title: str = Field(max_length=300)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    origin_post_id: str = Field(max_length=100)
    post_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author_keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    complainants: int = 1
    total_reach: int = 0
    # Assignment (denormalised so a snapshot needs no join).
    assignee_id: str | None = Field(default=None, max_length=100, index=True)
    assignee_name: str | None = Field(default=None, max_length=300)
    assignee_position: str | None = Field(default=None, max_length=500)
    department_id: str | None = Field(default=None, max_length=100)
    department_name: str | None = Field(default=None, max_length=500)
    assignment_explanation: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rule_id: str | None = Field(default=None, max_length=20)
    federal_fallback: bool = False
    escalation_level: int = 0
    history_seq: int = 0
    chain_head: str | None = Field(default=None, max_length=64)  # the hash of the last history entry
    escalated_to_id: str | None = Field(default=None, max_length=100)
    escalated_to_name: str | None = Field(default=None, max_length=300)
    flagged: bool = False
    flag_reason: str | None = Field(default=None, max_length=500)
    # The human in the loop: a post classified in a grey zone puts the incident in the review queue
    # (reasons per field, as ReviewReason dicts); a danger reason runs it on the critical clock
    # (possibly_critical) until an operator decides with the `correct` action.
    needs_review: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    review_reasons: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    possibly_critical: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    danger: float | None = None
    redirect_chain: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reject_reason: str | None = Field(default=None, max_length=1000)
    reply_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_url: str | None = Field(default=None, max_length=2000)
    interim_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    interim_url: str | None = Field(default=None, max_length=2000)
    # The latest reply or interim answer and where its publishing stands (a ReplyState dict).
    reply_publication: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The complainant's reaction to the published reply: satisfied, not_satisfied, no_reaction (None before).
    satisfaction: str | None = Field(default=None, max_length=20)
    # Its place in an operator's queue (a Priority dict: score, parts, formula; incidents.priority),
    # recomputed whenever a post joins. None for incidents no post has joined since issue 15.
    priority: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    final_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_policy: str | None = Field(default=None, max_length=300)  # the running clocks' policy (its name)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_post_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IncidentPost(SQLModel, table=True):
    """A post that opened or joined an incident. `post_id` is unique: a post is in one incident."""

    __tablename__ = "routing_incident_posts"

    # Client-side keys let SQLAlchemy insert a batch's rows in one executemany.
    post_id: str = Field(primary_key=True, max_length=100)
    incident_id: str = Field(max_length=36, index=True)
    ordinal: int = 0
    external_id: str | None = Field(default=None, max_length=300, index=True)
    source_type: str | None = Field(default=None, max_length=20)  # None for posts routed before replies were published
    author_key: str = Field(max_length=300)
    author_name: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    text: str = Field(sa_column=Column(Text, nullable=False))
    reach: int = 0
    # What incidents.priority reads. Null in rows routed before issue 15 (their `reach` stands in for views).
    author_followers: int | None = None
    views: int | None = None
    reposts: int | None = None
    comments: int | None = None
    likes: int | None = None
    text_key: str | None = Field(default=None, max_length=16)  # incidents.priority.text_key
    terms: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    address: str | None = Field(default=None, max_length=300)
    similarity: float = 1.0
    # What the classifier said of this post (model_version, category, urgency, region_code, danger,
    # review_reasons): the `previous` values of an operator's correction. None for posts routed before.
    classification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    published_at: datetime = Field(sa_type=UTCDateTime)
    attached_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IncidentHistory(SQLModel, table=True):
    """The audit log: who did what, when, from which status to which, and why."""

    __tablename__ = "routing_incident_history"
    # The audit log's daily roots read a day's entries (incidents.audit.day_hashes)
    __table_args__ = (Index("ix_routing_incident_history_at", "at"),)

    id: str = Field(primary_key=True, max_length=32)
    incident_id: str = Field(max_length=36, index=True)
    seq: int = 0  # order within the incident
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=300)
    action: str = Field(max_length=50)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # incidents.chain: the hash of the incident's entry before this one, and this entry's own
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class Reply(SQLModel, table=True):
    """An official's reply or interim answer, and where publishing it stands (the collector publishes
    it where the complaint was and says what came of it: routing.consumers)."""

    __tablename__ = "routing_replies"

    id: str = Field(primary_key=True, max_length=36)  # the idempotency key the collector publishes by
    incident_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=300)
    post_id: str = Field(max_length=100)
    status: str = Field(default="pending", max_length=20)
    channel: str | None = Field(default=None, max_length=20)
    url: str | None = Field(default=None, max_length=2000)
    published_id: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_code: str | None = Field(default=None, max_length=50)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Reaction(SQLModel, table=True):
    """A comment or message in the complaint's thread after a published reply, as the classifier
    labelled it (thanks, not_fixed, new_problem, other)."""

    __tablename__ = "routing_reactions"

    id: str = Field(primary_key=True, max_length=300)  # the collector's reaction id
    incident_id: str = Field(max_length=36, index=True)
    reply_id: str = Field(max_length=36)
    by_complainant: bool = False
    label: str = Field(max_length=20)
    confidence: float = 0.0
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, max_length=2000)
    published_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SkippedPost(SQLModel, table=True):
    """A classified post routing did not turn into an incident, and why."""

    __tablename__ = "routing_skipped_posts"

    post_id: str = Field(primary_key=True, max_length=100)
    reason: str = Field(max_length=300)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnplacedPost(SQLModel, table=True):
    """A classified post routing could not turn into an incident and a person should look at: a
    complaint no region could be found for, or one the classifier was unsure was a complaint. Kept
    whole (`post`, the PostClassified) so that a person's decision routes it as it came."""

    __tablename__ = "routing_unplaced_posts"

    post_id: str = Field(primary_key=True, max_length=100)
    reason: str = Field(max_length=300)
    region_code: str | None = Field(default=None, max_length=2, index=True)
    category: str = Field(max_length=50)
    urgency: str = Field(max_length=20)
    text: str = Field(sa_column=Column(Text, nullable=False))
    post: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    held_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision: str | None = Field(default=None, max_length=20)
    decided_by: str | None = Field(default=None, max_length=300)
    incident_id: str | None = Field(default=None, max_length=36)
    comment: str | None = Field(default=None, max_length=2000)
    not_a_complaint: bool | None = Field(default=None)  # dismissed: said to be no complaint at all


class Escalation(SQLModel, table=True):
    """One escalation step; unique per (incident, level), so two replicas cannot escalate twice."""

    __tablename__ = "routing_escalations"
    __table_args__ = (UniqueConstraint("incident_id", "level", name="uq_routing_escalations_incident_level"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(max_length=36, index=True)
    level: int
    clock: str = Field(max_length=20)
    reason: str = Field(max_length=1000)
    escalated_to_id: str | None = Field(default=None, max_length=100)
    escalated_to_name: str | None = Field(default=None, max_length=300)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditRoot(SQLModel, table=True):
    """A region's daily root of the audit log (incidents.chain.daily_root), computed once the day is
    over and published as an event; `python -m routing audit verify` recomputes it."""

    __tablename__ = "routing_audit_roots"

    region_code: str = Field(primary_key=True, max_length=2)
    day: date = Field(primary_key=True)
    root: str = Field(max_length=64)
    entries: int
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
