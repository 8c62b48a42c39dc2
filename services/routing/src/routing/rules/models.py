"""Assignment rules as data: each matches any subset of region, category, municipality and urgency."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow


class Rule(SQLModel, table=True):
    """Tried in ascending `priority` (then id); a null field matches anything."""

    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    priority: int = Field(default=100, index=True)
    region_code: str | None = Field(default=None, max_length=2, index=True)
    category: str | None = Field(default=None, max_length=50)
    municipality: str | None = Field(default=None, max_length=200)
    urgency: str | None = Field(default=None, max_length=20)
    department_id: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=500)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
