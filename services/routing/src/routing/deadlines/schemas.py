"""API models of SLA policies and deadlines."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incidents_common.events import Urgency
from routing.deadlines.models import Clock, DeadlineState
from routing.directory.schemas import check_region


class SlaPolicyFields(BaseModel):
    region_code: str | None = None
    category: str | None = Field(default=None, max_length=50)
    urgency: Urgency | None = None
    first_reaction_hours: float = Field(default=8.0, gt=0, le=24 * 30, description="Working hours")
    interim_days: float = Field(default=7.0, gt=0, le=365, description="Working days after an interim answer")
    final_days: float = Field(default=10.0, gt=0, le=365, description="Working days to the final answer")
    description: str | None = Field(default=None, max_length=500)


class SlaPolicyCreate(SlaPolicyFields):
    model_config = ConfigDict(extra="forbid")

    _region = field_validator("region_code")(check_region)


class SlaPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_reaction_hours: float | None = Field(default=None, gt=0)
    interim_days: float | None = Field(default=None, gt=0)
    final_days: float | None = Field(default=None, gt=0)
    description: str | None = None


class SlaPolicyRead(SlaPolicyFields):
    id: int
    created_at: datetime


class DeadlineRead(BaseModel):
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


class ScanResult(BaseModel):
    warnings: int = 0
    escalations: int = 0
