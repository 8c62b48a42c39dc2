"""API models of assignment rules."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incidents_common.events import Urgency
from routing.directory.schemas import check_region


class RuleFields(BaseModel):
    priority: int = Field(default=100, description="Lower is tried first")
    region_code: str | None = None
    category: str | None = Field(default=None, max_length=50)
    municipality: str | None = Field(default=None, max_length=200, description="City or municipality name")
    urgency: Urgency | None = None
    department_id: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    active: bool = True


class RuleCreate(RuleFields):
    model_config = ConfigDict(extra="forbid")

    _region = field_validator("region_code")(check_region)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: int | None = None
    category: str | None = None
    municipality: str | None = None
    urgency: Urgency | None = None
    department_id: str | None = None
    description: str | None = None
    active: bool | None = None


class RuleRead(RuleFields):
    id: int
    department_name: str | None = None
    created_at: datetime
