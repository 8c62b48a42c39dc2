"""API models of SLA policies and deadlines (limits shared by Create, Update and Read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import MISSING, BaseModel, ConfigDict, Field

from incidents_common.events import Urgency
from routing.deadlines.models import Clock, DeadlineState
from routing.directory.schemas import Category, RegionCode

FirstReactionHours = Annotated[
    float, Field(gt=0, le=24 * 30, allow_inf_nan=False, description="Working hours to the first public reaction")
]
InterimDays = Annotated[
    float, Field(gt=0, le=365, allow_inf_nan=False, description="Working days to the final answer after an interim one")
]
FinalDays = Annotated[float, Field(gt=0, le=365, allow_inf_nan=False, description="Working days to the final answer")]
Description = Annotated[str, Field(max_length=500)]


class SlaPolicyFields(BaseModel):
    region_code: RegionCode | None = Field(default=None, description="Empty: every region (the operator's)")
    category: Category | None = None
    urgency: Urgency | None = None
    first_reaction_hours: FirstReactionHours = 8.0
    interim_days: InterimDays = 7.0
    final_days: FinalDays = 10.0
    description: Description | None = None


class SlaPolicyCreate(SlaPolicyFields):
    model_config = ConfigDict(extra="forbid")


class SlaPolicyUpdate(BaseModel):
    """Partial update; omit a field to keep it. Its keys (region, category, urgency) never change."""

    model_config = ConfigDict(extra="forbid")

    first_reaction_hours: FirstReactionHours | MISSING = MISSING
    interim_days: InterimDays | MISSING = MISSING
    final_days: FinalDays | MISSING = MISSING
    description: Description | None | MISSING = MISSING


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
