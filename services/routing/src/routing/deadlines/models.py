"""SLA policies (data) and the deadline timers they produce (stored, so they survive a restart)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow


class Clock(StrEnum):
    first_reaction = "first_reaction"  # the first public reaction (a reply or an interim answer)
    final = "final"  # the final answer; an interim answer restarts it with the interim budget


class DeadlineState(StrEnum):
    pending = "pending"
    met = "met"
    breached = "breached"
    paused = "paused"  # superseded by an interim answer, which starts a new final clock
    cancelled = "cancelled"


class SlaPolicy(SQLModel, table=True):
    """Keyed by any subset of region × category × urgency; the most specific match wins."""

    __tablename__ = "routing_sla_policies"

    id: int | None = Field(default=None, primary_key=True)
    region_code: str | None = Field(default=None, max_length=2, index=True)
    category: str | None = Field(default=None, max_length=50)
    urgency: str | None = Field(default=None, max_length=20)
    first_reaction_hours: float = 8.0
    interim_days: float = 7.0
    final_days: float = 10.0
    description: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Deadline(SQLModel, table=True):
    """One running clock of one incident. `warn_at` and `due_at` are precomputed in working time."""

    __tablename__ = "routing_deadlines"
    __table_args__ = (
        Index("ix_routing_deadlines_state_due", "state", "due_at"),
        # The scanner's other look-up: pending clocks not yet warned whose warning time has come.
        Index("ix_routing_deadlines_state_warning", "state", "warned_at", "warn_at"),
    )

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    incident_id: str = Field(max_length=36, index=True)
    clock: Clock = Field(max_length=20)
    state: DeadlineState = Field(default=DeadlineState.pending, max_length=20)
    level: int = 0  # escalation level this clock runs at
    started_at: datetime = Field(sa_type=UTCDateTime)
    warn_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    working_seconds: float
    timezone: str = Field(max_length=64)
    policy: str = Field(default="", max_length=300)
    warned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
