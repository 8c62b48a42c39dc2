"""API models of the directory."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from incidents_common.regions import REGIONS
from routing.directory.models import Role

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def check_region(value: str | None) -> str | None:
    if value is not None and value not in REGIONS:
        raise ValueError(f"unknown region code {value!r} (two-digit ФИАС/ГАР code such as '64')")
    return value


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def check_hhmm(value: str | None) -> str | None:
    if value is not None and not _HHMM.match(value):
        raise ValueError(f"expected HH:MM, got {value!r}")
    return value


class DepartmentBase(BaseModel):
    name: str = Field(min_length=1, max_length=500)
    kind: str = Field(default="ministry", max_length=50)
    municipality: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    active: bool = True


class DepartmentCreate(DepartmentBase):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[\w.\-]+$")
    region_code: str

    _region = field_validator("region_code")(check_region)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=500)
    kind: str | None = Field(default=None, max_length=50)
    municipality: str | None = None
    email: str | None = None
    phone: str | None = None
    active: bool | None = None


class DepartmentRead(DepartmentBase):
    id: str
    region_code: str
    region_name: str
    created_at: datetime
    updated_at: datetime


class OfficialFields(BaseModel):
    department_id: str | None = Field(default=None, max_length=100)
    name: str = Field(min_length=1, max_length=300)
    position: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    role: Role = Role.official
    categories: list[str] = Field(default_factory=list, description="Empty: every category")
    municipalities: list[str] = Field(default_factory=list, description="Empty: the whole region")
    work_start: str = "09:00"
    work_end: str = "18:00"
    work_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], description="ISO weekdays, 1 = Monday")
    timezone: str | None = Field(default=None, description="IANA zone; empty: the region's")
    capacity: int = Field(default=50, ge=0)
    active: bool = True
    on_leave: bool = False


class OfficialCreate(OfficialFields):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[\w.\-]+$")
    region_code: str

    _region = field_validator("region_code")(check_region)
    _tz = field_validator("timezone")(check_timezone)
    _hours = field_validator("work_start", "work_end")(check_hhmm)

    @field_validator("work_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 1 or d > 7 for d in value):
            raise ValueError("work days are ISO weekdays 1..7")
        return sorted(set(value))

    @model_validator(mode="after")
    def _hours_order(self) -> OfficialCreate:
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be after work_start")
        return self


class OfficialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: str | None = None
    name: str | None = Field(default=None, min_length=1, max_length=300)
    position: str | None = None
    email: str | None = None
    phone: str | None = None
    role: Role | None = None
    categories: list[str] | None = None
    municipalities: list[str] | None = None
    work_start: str | None = None
    work_end: str | None = None
    work_days: list[int] | None = None
    timezone: str | None = None
    capacity: int | None = Field(default=None, ge=0)
    active: bool | None = None
    on_leave: bool | None = None

    _tz = field_validator("timezone")(check_timezone)
    _hours = field_validator("work_start", "work_end")(check_hhmm)


class OfficialRead(OfficialFields):
    id: str
    region_code: str
    region_name: str
    effective_timezone: str
    open_incidents: int = 0
    created_at: datetime
    updated_at: datetime


class ImportResult(BaseModel):
    departments: int = 0
    officials: int = 0
    rules: int = 0
    sla_policies: int = 0
    errors: list[str] = Field(default_factory=list)
