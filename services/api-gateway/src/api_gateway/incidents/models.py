"""The incident read model: the latest snapshot of each incident, its posts, and the event log that is
its history, the SSE feed and the webhooks' source.

Fed only by NATS events (IncidentSnapshot in every incident event, PostClassified for post texts):
the gateway never reads another service's database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, false
from sqlmodel import Field, SQLModel

from api_gateway.columns import js, search_index, ts


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
        # A federal monitor's category + status (roads that are assigned, in every region): one in a
        # hundred incidents, which the created_at order alone found by reading some 2,000 rows a page.
        Index("ix_gw_incident_category_status_created", "category", "status", "created_at"),
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
    sla_policy: str | None = None  # routing's clocks follow it (by name)
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
