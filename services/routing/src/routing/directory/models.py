"""Directory tables: departments and officials per region (incl. the curator and the escalation chain)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow


class Role(StrEnum):
    """An official's place in the region: a line official, or a level of the escalation chain."""

    official = "official"
    curator = "curator"  # the governor's assistant for internet communications (level 1)
    deputy_governor = "deputy_governor"  # level 2
    governor_office = "governor_office"  # level 3


ESCALATION_CHAIN: tuple[Role, ...] = (Role.curator, Role.deputy_governor, Role.governor_office)


class Department(SQLModel, table=True):
    __tablename__ = "routing_departments"

    id: str = Field(primary_key=True, max_length=100)
    region_code: str = Field(max_length=2, index=True)
    name: str = Field(max_length=500)
    kind: str = Field(default="ministry", max_length=50)
    municipality: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Official(SQLModel, table=True):
    __tablename__ = "routing_officials"

    id: str = Field(primary_key=True, max_length=100)
    region_code: str = Field(max_length=2, index=True)
    department_id: str | None = Field(default=None, max_length=100, index=True)
    name: str = Field(max_length=300)
    position: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    role: Role = Field(default=Role.official, max_length=30)
    # Empty lists mean "all categories" / "the whole region".
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    municipalities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    work_start: str = Field(default="09:00", max_length=5)
    work_end: str = Field(default="18:00", max_length=5)
    # ISO weekdays, 1 = Monday.
    work_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], sa_column=Column(JSON, nullable=False))
    timezone: str | None = Field(default=None, max_length=64)
    capacity: int = 50
    active: bool = True
    on_leave: bool = False
    # Tie-breaker for round-robin among equally loaded officials.
    assignments_total: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def on_duty(self) -> bool:
        return self.active and not self.on_leave


def json_list(value: Any) -> list[Any]:
    return list(value or [])
