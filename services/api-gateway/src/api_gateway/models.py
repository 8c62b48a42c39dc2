"""The gateway's own tables: the incident read model built from events, surge alerts, auth, webhooks,
Open311 tokens.

The read model is fed only by NATS events (IncidentSnapshot in every incident event, PostClassified
for post texts): the gateway never reads another service's database. Its text columns have no
length limit: a value the producer accepted must never make an event undeliverable here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, TypeDecorator, false, text
from sqlmodel import Field, SQLModel

from incidents_common.db import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC as a naive timestamp and returns aware UTC datetimes, the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# PostgreSQL searches words with a GIN index over this expression (service.word_clause); the query must
# spell it exactly so, with a constant configuration, for the planner to use the index. `simple` only
# lower-cases: the stored text is already normalised and lemmatised by search.py.
SEARCH_VECTOR = "to_tsvector('simple'::regconfig, search_text)"


def search_index(name: str) -> Index:
    """A GIN index of the words in `search_text`, on PostgreSQL only (SQLite searches with LIKE)."""
    return Index(name, text(SEARCH_VECTOR), postgresql_using="gin").ddl_if(dialect="postgresql")


def ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def js() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Incident(SQLModel, table=True):
    """The latest snapshot of an incident plus the facts analytics needs."""

    __tablename__ = "gw_incident"
    # The incident list is filtered by region (always, for all but federal callers) and sorted by one
    # of these columns with incident_id as the tie-break: an index per (region, sort column, id) and
    # per (sort column, id) for federal callers lets a page be read in order and stop after `limit`
    # rows instead of sorting a whole region (ix_gw_incident_region_created serves region lookups too;
    # status and category filters, the most common ones, keep the default order with the *_created ones).
    __table_args__ = (
        Index("ix_gw_incident_region_created", "region_code", "created_at"),
        Index("ix_gw_incident_region_status_created", "region_code", "status", "created_at"),
        Index("ix_gw_incident_region_category_created", "region_code", "category", "created_at"),
        Index("ix_gw_incident_region_updated", "region_code", "updated_at", "incident_id"),
        Index("ix_gw_incident_region_severity", "region_code", "severity", "incident_id"),
        Index("ix_gw_incident_region_reach", "region_code", "total_reach", "incident_id"),
        Index("ix_gw_incident_region_complainants", "region_code", "complainants", "incident_id"),
        Index("ix_gw_incident_updated", "updated_at", "incident_id"),
        Index("ix_gw_incident_severity", "severity", "incident_id"),
        Index("ix_gw_incident_reach", "total_reach", "incident_id"),
        Index("ix_gw_incident_complainants", "complainants", "incident_id"),
        # The operator's queue (issue 15): sorted by priority, highest first.
        Index("ix_gw_incident_region_priority", "region_code", "priority", "incident_id"),
        Index("ix_gw_incident_priority", "priority", "incident_id"),
        # The review queue: the few incidents awaiting an operator, per region.
        Index("ix_gw_incident_review", "needs_review", "region_code"),
        search_index("ix_gw_incident_search"),
    )

    incident_id: str = Field(primary_key=True)
    region_code: str
    region_name: str
    city: str | None = Field(default=None)
    city_norm: str | None = Field(default=None, index=True)
    category: str
    urgency: str
    status: str
    severity: int = 1
    title: str
    summary: str
    assignee_id: str | None = Field(default=None, index=True)
    assignee_name: str | None = Field(default=None)
    department_id: str | None = Field(default=None)
    department_name: str | None = Field(default=None)
    assignee: dict[str, Any] | None = js()
    assignment_explanation: str | None = None
    post_ids: list[str] | None = js()
    complainants: int = 1
    total_reach: int = 0
    escalation_level: int = 0
    escalations: int = 0
    first_response_due: datetime | None = ts()
    final_due: datetime | None = ts()
    first_response_at: datetime | None = ts()
    answered_at: datetime | None = ts()
    closed_at: datetime | None = ts()
    created_at: datetime = ts(nullable=False, index=True)
    updated_at: datetime = ts(nullable=False)
    # The revision of the snapshot held: what orders snapshots (updated_at can tie or, between
    # routing replicas, go back).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The human in the loop (issue 13), from the snapshot: awaiting an operator's decision on the
    # classification, why (ReviewReason dicts), and whether it runs on the critical clock meanwhile.
    needs_review: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    review_reasons: list[dict[str, Any]] | None = js()
    possibly_critical: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    danger: float | None = None
    # The latest reply or interim answer and where publishing it stands (a ReplyState dict, issue 14).
    reply: dict[str, Any] | None = js()
    # The complainant's reaction to the published reply: satisfied, not_satisfied, no_reaction (issue 14).
    satisfaction: str | None = Field(default=None)
    # Its priority in an operator's queue (issue 15): the score, a sort column, and the whole Priority
    # (score, parts, formula) for the detail. 0 while routing has given none: its scores start at 2.
    priority: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    priority_parts: dict[str, Any] | None = js()
    search_text: str = Field(default="", description="Title, summary and city, normalised (search.py)")


class IncidentPost(SQLModel, table=True):
    """Which posts belong to which incident (for Open311 tokens and detail views)."""

    __tablename__ = "gw_incident_post"

    post_id: str = Field(primary_key=True)
    incident_id: str = Field(index=True)


class IncidentEventLog(SQLModel, table=True):
    """Every incident event received: the incident's history, the SSE feed and the webhook source.

    `seq` is the SSE event id (monotonic in this database), so Last-Event-ID resumes exactly. Surge
    alerts travel the same way (type alert.surge): their `incident_id` is the alert's id, which no
    incident has, so they reach the SSE streams and webhooks of their region and no incident's history.
    """

    __tablename__ = "gw_incident_event"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True)
    incident_id: str = Field(index=True)
    region_code: str = Field(index=True)
    type: str
    subject: str
    occurred_at: datetime = ts(nullable=False)
    actor: str | None = Field(default=None)
    from_status: str | None = Field(default=None)
    to_status: str | None = Field(default=None)
    detail: dict[str, Any] | None = js()
    payload: dict[str, Any] | None = js()


class Post(SQLModel, table=True):
    """A classified post (latest version), shown in incident detail."""

    __tablename__ = "gw_post"
    __table_args__ = (search_index("ix_gw_post_search"),)

    post_id: str = Field(primary_key=True)
    version: int = 1
    source_type: str
    external_id: str = Field(index=True)
    url: str | None = None
    author: dict[str, Any] | None = js()
    text: str
    published_at: datetime = ts(nullable=False)
    reach: dict[str, Any] | None = js()
    place_hints: dict[str, Any] | None = js()
    classification: dict[str, Any] | None = js()
    search_text: str = Field(default="", description="The post's words and lemmas (search.py)")


class ApiClient(SQLModel, table=True):
    """An OAuth2 client (client credentials grant). The secret is stored only as a scrypt hash."""

    __tablename__ = "gw_client"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    secret_hash: str
    role: str = Field(max_length=32)
    regions: list[str] | None = js()
    official_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = ts()


class ApiKey(SQLModel, table=True):
    """An API key, stored only as the SHA-256 of its (high-entropy) value."""

    __tablename__ = "gw_api_key"

    key_id: str = Field(primary_key=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=32)
    regions: list[str] | None = js()
    official_id: str | None = Field(default=None, max_length=64)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = ts()


class RevokedToken(SQLModel, table=True):
    """A revoked access token id (RFC 7009); kept until the token would have expired anyway."""

    __tablename__ = "gw_revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = ts(nullable=False)


class Webhook(SQLModel, table=True):
    __tablename__ = "gw_webhook"

    webhook_id: str = Field(primary_key=True, max_length=64)
    owner: str = Field(index=True, max_length=100)
    url: str
    # Empty: the secret is in gw_webhook_secret, encrypted. A value here is a plaintext secret written
    # by the release before encryption; it is moved into gw_webhook_secret at start-up or by `rotate`.
    secret: str = Field(default="", max_length=200)
    regions: list[str] | None = js()
    event_types: list[str] | None = js()
    active: bool = True
    cursor: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class WebhookSecret(SQLModel, table=True):
    """A webhook's HMAC key, encrypted (incidents_common.secretbox). A table of its own rather than the
    old `gw_webhook.secret` column: that is VARCHAR(200) on PostgreSQL, too short for the ciphertext of
    a long secret, and a new table is created at start-up where a changed column would need a migration."""

    __tablename__ = "gw_webhook_secret"

    webhook_id: str = Field(primary_key=True, max_length=64)
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "gw_webhook_delivery"
    # One delivery per webhook and event, whichever replica fans it out (webhooks.fan_out).
    __table_args__ = (Index("ux_gw_webhook_delivery_webhook_event", "webhook_id", "event_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(index=True, max_length=64)
    seq: int
    event_id: str = Field(max_length=64)
    status: str = Field(default="pending", index=True, max_length=16)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime = ts(nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = ts()


class Open311Token(SQLModel, table=True):
    """An Open311 service request submitted through the gateway, before and after it became an incident."""

    __tablename__ = "gw_open311_token"

    token: str = Field(primary_key=True, max_length=64)
    external_id: str = Field(index=True, max_length=255)
    post_id: str | None = Field(default=None, max_length=64)
    jurisdiction_id: str = Field(max_length=8)
    service_code: str = Field(max_length=64)
    owner: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class HeldReply(SQLModel, table=True):
    """A reply (or interim answer) held by the quality guard for the region's curator (issue 14): the
    curator releases it (it goes out, the override in the audit log) or returns it to its author."""

    __tablename__ = "gw_held_reply"
    __table_args__ = (Index("ix_gw_held_reply_region_status", "region_code", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    incident_id: str = Field(index=True, max_length=64)
    region_code: str = Field(max_length=2)
    action: str = Field(max_length=20)  # reply or interim_answer
    reply_text: str = Field(sa_column=Column(Text, nullable=False))
    reply_url: str | None = Field(default=None, max_length=2000)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    author: str = Field(max_length=200)  # the official's id, or the caller's subject
    author_name: str = Field(max_length=300)
    quality: float
    threshold: float
    reasons: list[str] | None = js()
    suggestions: list[str] | None = js()
    status: str = Field(default="held", max_length=20)  # held, released, returned, superseded
    decided_by: str | None = Field(default=None, max_length=300)
    decision_reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    decided_at: datetime | None = ts()


class SurgeAlertRecord(SQLModel, table=True):
    """A surge alert from routing (SurgeAlert): a category flaring up in one town, for the alert list."""

    __tablename__ = "gw_surge_alerts"
    # Newest first, per region (every caller but a federal one) or over all regions.
    __table_args__ = (
        Index("ix_gw_surge_alerts_region_raised", "region_code", "raised_at", "alert_id"),
        Index("ix_gw_surge_alerts_raised", "raised_at", "alert_id"),
    )

    alert_id: str = Field(primary_key=True)
    region_code: str
    region_name: str
    city: str | None = Field(default=None)
    category: str
    window_start: datetime = ts(nullable=False)
    window_end: datetime = ts(nullable=False)
    count: int
    baseline: float
    threshold: int
    score: float
    statistic: str
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    incident_ids: list[str] | None = js()
    post_ids: list[str] | None = js()
    raised_at: datetime = ts(nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


TABLES: list[Any] = [
    Incident,
    IncidentPost,
    IncidentEventLog,
    Post,
    ApiClient,
    ApiKey,
    RevokedToken,
    Webhook,
    WebhookSecret,
    WebhookDelivery,
    Open311Token,
    HeldReply,
    SurgeAlertRecord,
]
