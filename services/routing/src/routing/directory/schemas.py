"""API models of the directory.

Each field's limits are one constrained type below, used by the Create, Update and Read models
alike, so that what is accepted can always be returned. In Update models a field that may not be
null in the table is `<Type> | MISSING`: leaving it out keeps the stored value, an explicit null
is a 422 like any other wrong type (it is never written).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, model_validator

from incidents_common.categories import check_category
from incidents_common.regions import REGIONS
from routing.directory.models import Role

HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"


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


def check_work_days(value: list[int]) -> list[int]:
    return sorted(set(value))


# -- shared constrained types ----------------------------------------------------------------

RegionCode = Annotated[
    str, AfterValidator(check_region), Field(description="Two-digit region code (ФИАС/ГАР)", examples=["64"])
]
NewId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^\w[\w.\-]*$",
        description="Unique across all regions; letters, digits, _ . - (starting with a letter or digit)",
    ),
]
DepartmentRef = Annotated[str, Field(min_length=1, max_length=100, description="A department of the same region")]
DepartmentName = Annotated[str, Field(min_length=1, max_length=500)]
DepartmentKind = Annotated[str, Field(max_length=50, description="ministry, municipality, administration …")]
Municipality = Annotated[str, Field(max_length=200, description="City or municipality name")]
Email = Annotated[str, Field(max_length=200)]
Phone = Annotated[str, Field(max_length=50)]
OfficialName = Annotated[str, Field(min_length=1, max_length=300)]
Position = Annotated[str, Field(max_length=500)]
Category = Annotated[str, Field(max_length=50), AfterValidator(check_category)]
Categories = Annotated[list[Category], Field(max_length=100, description="Empty: every category")]
Municipalities = Annotated[list[Municipality], Field(max_length=500, description="Empty: the whole region")]
HourMinute = Annotated[str, Field(pattern=HHMM_PATTERN, description="HH:MM", examples=["09:00"])]
WorkDays = Annotated[
    list[Annotated[int, Field(ge=1, le=7)]],
    Field(min_length=1, max_length=7, description="ISO weekdays, 1 = Monday (at least one)"),
    AfterValidator(check_work_days),
]
TimeZone = Annotated[str, Field(max_length=64, description="IANA zone"), AfterValidator(check_timezone)]
Capacity = Annotated[int, Field(ge=0, le=100_000, description="Open incidents the official should carry")]


def _hours_in_order(work_start: str, work_end: str) -> None:
    if work_end <= work_start:
        raise ValueError("work_end must be after work_start")


# -- departments -----------------------------------------------------------------------------


class DepartmentBase(BaseModel):
    name: DepartmentName
    kind: DepartmentKind = "ministry"
    municipality: Municipality | None = None
    email: Email | None = None
    phone: Phone | None = None
    active: bool = True


class DepartmentCreate(DepartmentBase):
    model_config = ConfigDict(extra="forbid")

    id: NewId | None = None
    region_code: RegionCode


class DepartmentUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region of a department never changes."""

    model_config = ConfigDict(extra="forbid")

    name: DepartmentName | MISSING = MISSING
    kind: DepartmentKind | MISSING = MISSING
    municipality: Municipality | None | MISSING = MISSING
    email: Email | None | MISSING = MISSING
    phone: Phone | None | MISSING = MISSING
    active: bool | MISSING = MISSING


class DepartmentRead(DepartmentBase):
    id: str
    region_code: RegionCode
    region_name: str
    created_at: datetime
    updated_at: datetime


# -- officials -------------------------------------------------------------------------------


class OfficialFields(BaseModel):
    department_id: DepartmentRef | None = None
    name: OfficialName
    position: Position | None = None
    email: Email | None = None
    phone: Phone | None = None
    role: Role = Role.official
    categories: Categories = Field(default_factory=list)
    municipalities: Municipalities = Field(default_factory=list)
    work_start: HourMinute = "09:00"
    work_end: HourMinute = "18:00"
    work_days: WorkDays = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    timezone: TimeZone | None = Field(default=None, description="IANA zone; empty: the region's")
    capacity: Capacity = 50
    active: bool = True
    on_leave: bool = False


class OfficialCreate(OfficialFields):
    model_config = ConfigDict(extra="forbid")

    id: NewId | None = None
    region_code: RegionCode

    @model_validator(mode="after")
    def _hours_order(self) -> OfficialCreate:
        _hours_in_order(self.work_start, self.work_end)
        return self


class OfficialUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region of an official never changes."""

    model_config = ConfigDict(extra="forbid")

    department_id: DepartmentRef | None | MISSING = MISSING
    name: OfficialName | MISSING = MISSING
    position: Position | None | MISSING = MISSING
    email: Email | None | MISSING = MISSING
    phone: Phone | None | MISSING = MISSING
    role: Role | MISSING = MISSING
    categories: Categories | MISSING = MISSING
    municipalities: Municipalities | MISSING = MISSING
    work_start: HourMinute | MISSING = MISSING
    work_end: HourMinute | MISSING = MISSING
    work_days: WorkDays | MISSING = MISSING
    timezone: TimeZone | None | MISSING = MISSING
    capacity: Capacity | MISSING = MISSING
    active: bool | MISSING = MISSING
    on_leave: bool | MISSING = MISSING


class OfficialRead(OfficialFields):
    id: str
    region_code: RegionCode
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
