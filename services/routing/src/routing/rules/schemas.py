"""API models of assignment rules (limits shared by Create, Update and Read, see directory.schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import MISSING, BaseModel, ConfigDict, Field

from incidents_common.events import Urgency
from routing.directory.schemas import Category, DepartmentRef, Municipality, RegionCode

Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000, description="Lower is tried first")]
Description = Annotated[str, Field(max_length=500)]


class RuleFields(BaseModel):
    priority: Priority = 100
    region_code: RegionCode | None = Field(
        default=None, description="The rule's region; empty: the department's (a rule is always regional)"
    )
    category: Category | None = None
    municipality: Municipality | None = None
    urgency: Urgency | None = None
    department_id: DepartmentRef
    description: Description | None = None
    active: bool = True


class RuleCreate(RuleFields):
    model_config = ConfigDict(extra="forbid")


class RuleUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region never changes; the department stays in it."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority | MISSING = MISSING
    category: Category | None | MISSING = MISSING
    municipality: Municipality | None | MISSING = MISSING
    urgency: Urgency | None | MISSING = MISSING
    department_id: DepartmentRef | MISSING = MISSING
    description: Description | None | MISSING = MISSING
    active: bool | MISSING = MISSING


class RuleRead(RuleFields):
    id: int
    department_name: str | None = None
    created_at: datetime


class AssignmentPreviewRead(BaseModel):
    official_id: str
    name: str
    department_name: str | None
    explanation: str
    rule_id: int | None
    federal_fallback: bool
