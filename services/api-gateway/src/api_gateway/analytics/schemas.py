"""API models of analytics (the definitions of each figure are in analytics/service.py)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class GroupBy(StrEnum):
    region = "region"
    category = "category"
    department = "department"


class RatingLevel(StrEnum):
    region = "region"
    department = "department"


class GroupStatsRead(BaseModel):
    key: str = Field(description="Region code, category or department id")
    name: str
    incidents: int
    answered: int
    share_answered: float | None
    answered_on_time: int
    share_answered_on_time: float | None
    median_first_response_minutes: float | None
    p90_first_response_minutes: float | None
    overdue_now: int
    escalations: int
    satisfied: int = Field(default=0, description="Replies published whose complainant thanked")
    not_satisfied: int = Field(default=0, description="Replies published whose complainant said it is not fixed")
    no_reaction: int = Field(default=0, description="Replies published with no reaction of the complainant yet")
    share_satisfied: float | None = Field(
        default=None, description="satisfied / (satisfied + not satisfied + no reaction)"
    )


class RatingEntryRead(GroupStatsRead):
    rank: int
    score: float = Field(description="(n·p + m·p₀)/(n + m): the on-time share shrunk towards the mean p₀")
    satisfaction_score: float | None = Field(
        default=None, description="The satisfied share shrunk the same way (beside speed; it does not rank)"
    )
    provisional: bool = Field(description="Fewer incidents than the prior weight m: the score is mostly the mean")


class TrendPointRead(BaseModel):
    day: date
    created: int
    answered: int
    answered_on_time: int


class SummaryRead(BaseModel):
    period_from: datetime | None
    period_to: datetime | None
    total: GroupStatsRead
    groups: list[GroupStatsRead]


class RatingRead(BaseModel):
    level: str
    prior_weight: float
    prior_mean: float | None = Field(description="p₀: the on-time share of everything in view")
    entries: list[RatingEntryRead]
