"""API models of the directory as the gateway serves it: the shapes of routing's directory contract
(routing/openapi.json: DepartmentCreate/Update/Read, OfficialCreate/Update/Read, RuleCreate/Update/Read).

The gateway checks a body here as routing would (names, types, limits, the region code, the
category, the time zone), so that a portal's mistake is a 422 before any call to routing; what needs
routing's data (the department exists and is in the same region) routing checks, and its 422 is
relayed.
tests/test_contracts.py holds these models to routing's committed contract.
In Update models a field that may not be null is `<Type> | MISSING`: leaving it out keeps the
stored value, an explicit null is a 422.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api_gateway.schemas import EXAMPLE_TIME, example
from incidents_common.categories import check_category
from incidents_common.events import Urgency
from incidents_common.regions import REGIONS


def _known_region(value: str) -> str:
    if value not in REGIONS:
        raise ValueError(f"unknown region code {value!r} (two-digit ФИАС/ГАР code such as '64')")
    return value


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


RegionCode = Annotated[str, AfterValidator(_known_region), Field(description="Two-digit region code (ФИАС/ГАР)")]
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
HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")]
WorkDays = Annotated[
    list[Annotated[int, Field(ge=1, le=7)]],
    Field(min_length=1, max_length=7, description="ISO weekdays, 1 = Monday (at least one)"),
    AfterValidator(lambda days: sorted(set(days))),
]
TimeZone = Annotated[str, Field(max_length=64, description="IANA zone"), AfterValidator(_known_zone)]
Capacity = Annotated[int, Field(ge=0, le=100_000, description="Open incidents the official should carry")]
Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000, description="Lower is tried first")]
Description = Annotated[str, Field(max_length=500)]


class OfficialRole(StrEnum):
    """An official's place in the region: a line official, or a level of the escalation chain."""

    official = "official"
    curator = "curator"
    deputy_governor = "deputy_governor"
    governor_office = "governor_office"


# -- departments -----------------------------------------------------------------------------


class DepartmentFields(BaseModel):
    name: DepartmentName
    kind: DepartmentKind = "ministry"
    municipality: Municipality | None = None
    email: Email | None = None
    phone: Phone | None = None
    active: bool = True


class DepartmentCreate(DepartmentFields):
    model_config = ConfigDict(extra="forbid") | example(
        region_code="64",
        name="Комитет дорожного хозяйства администрации г. Саратова",
        kind="municipality",
        municipality="Саратов",
        email="roads@saratov.example",
    )

    id: NewId | None = None
    region_code: RegionCode


class DepartmentUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region of a department never changes."""

    model_config = ConfigDict(extra="forbid") | example(active=False)

    name: DepartmentName | MISSING = MISSING
    kind: DepartmentKind | MISSING = MISSING
    municipality: Municipality | None | MISSING = MISSING
    email: Email | None | MISSING = MISSING
    phone: Phone | None | MISSING = MISSING
    active: bool | MISSING = MISSING


class DepartmentRead(DepartmentFields):
    model_config = example(
        id="dep-64-roads",
        region_code="64",
        region_name="Саратовская область",
        name="Комитет дорожного хозяйства администрации г. Саратова",
        kind="municipality",
        municipality="Саратов",
        email="roads@saratov.example",
        phone=None,
        active=True,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: str
    region_code: str
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
    role: OfficialRole = OfficialRole.official
    categories: Categories = Field(default_factory=list)
    municipalities: Municipalities = Field(default_factory=list)
    work_start: HourMinute = "09:00"
    work_end: HourMinute = "18:00"
    work_days: WorkDays = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    timezone: TimeZone | None = Field(default=None, description="IANA zone; empty: the region's")
    capacity: Capacity = 50
    active: bool = True
    on_leave: bool = False


_OFFICIAL = {
    "region_code": "64",
    "name": "Петров Иван Сергеевич",
    "position": "Начальник отдела",
    "department_id": "dep-64-roads",
    "email": "petrov@saratov.example",
    "categories": ["roads"],
}


class OfficialCreate(OfficialFields):
    model_config = ConfigDict(extra="forbid") | example(**_OFFICIAL)

    id: NewId | None = None
    region_code: RegionCode

    @model_validator(mode="after")
    def _hours_in_order(self) -> OfficialCreate:
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be after work_start")
        return self


class OfficialUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region of an official never changes."""

    model_config = ConfigDict(extra="forbid") | example(on_leave=True)

    department_id: DepartmentRef | None | MISSING = MISSING
    name: OfficialName | MISSING = MISSING
    position: Position | None | MISSING = MISSING
    email: Email | None | MISSING = MISSING
    phone: Phone | None | MISSING = MISSING
    role: OfficialRole | MISSING = MISSING
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
    model_config = example(
        **_OFFICIAL,
        id="off-64-1",
        region_name="Саратовская область",
        phone=None,
        role="official",
        municipalities=[],
        work_start="09:00",
        work_end="18:00",
        work_days=[1, 2, 3, 4, 5],
        timezone=None,
        effective_timezone="Europe/Saratov",
        capacity=50,
        active=True,
        on_leave=False,
        open_incidents=3,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: str
    region_code: str
    region_name: str
    effective_timezone: str
    open_incidents: int = 0
    created_at: datetime
    updated_at: datetime


# -- rules -----------------------------------------------------------------------------------


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


_RULE = {"region_code": "64", "category": "roads", "municipality": "Саратов", "department_id": "dep-64-roads"}


class RuleCreate(RuleFields):
    model_config = ConfigDict(extra="forbid") | example(**_RULE, priority=10)


class RuleUpdate(BaseModel):
    """Partial update; omit a field to keep it. The region never changes; the department stays in it."""

    model_config = ConfigDict(extra="forbid") | example(active=False)

    priority: Priority | MISSING = MISSING
    category: Category | None | MISSING = MISSING
    municipality: Municipality | None | MISSING = MISSING
    urgency: Urgency | None | MISSING = MISSING
    department_id: DepartmentRef | MISSING = MISSING
    description: Description | None | MISSING = MISSING
    active: bool | MISSING = MISSING


class RuleRead(RuleFields):
    model_config = example(
        **_RULE,
        id=15,
        priority=10,
        urgency=None,
        description=None,
        active=True,
        department_name="Комитет дорожного хозяйства администрации г. Саратова",
        created_at=EXAMPLE_TIME,
    )

    id: int
    department_name: str | None = None
    created_at: datetime
