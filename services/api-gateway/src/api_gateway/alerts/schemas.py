"""API models of surge alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api_gateway.schemas import EXAMPLE_TIME, example

ALERT_EXAMPLE: dict[str, Any] = {
    "alert_id": "2f0c7c1e-5d1b-5b9e-9a51-3c8e1f0b6d42",
    "region_code": "37",
    "region_name": "Ивановская область",
    "city": "Кинешма",
    "category": "housing_utilities",
    "window_start": "2026-11-26T08:30:00Z",
    "window_end": "2026-11-26T09:30:00Z",
    "count": 52,
    "baseline": 1.3,
    "threshold": 10,
    "score": 2.9e-63,
    "statistic": "poisson_upper_tail",
    "explanation": (
        "52 posts about housing_utilities in Кинешма in the last 60 min; baseline 1.3 per 60 min; "
        "P(≥52 | Poisson(1.3)) < 1e-9"
    ),
    "incident_ids": ["inc-8f3a", "inc-8f3b"],
    "post_ids": ["post-1", "post-2"],
    "raised_at": EXAMPLE_TIME,
}


class AlertRead(BaseModel):
    """A category flaring up in one place: far more complaints in the window than its history makes likely."""

    model_config = example(**ALERT_EXAMPLE)

    alert_id: str
    region_code: str
    region_name: str
    city: str | None = Field(description="The town; null: the region as a whole (complaints that named no town)")
    category: str
    window_start: datetime
    window_end: datetime
    count: int = Field(description="Complaints in the window")
    baseline: float = Field(description="Complaints expected per window from the place's history")
    threshold: int = Field(description="The smallest count that would have raised the alert")
    score: float = Field(description="The statistic's value: for poisson_upper_tail, P(X ≥ count); smaller is rarer")
    statistic: str
    explanation: str
    incident_ids: list[str] = Field(description="The incidents that gathered the window's complaints")
    post_ids: list[str] = Field(description="Complaints of the window (at most 50)")
    raised_at: datetime


class AlertPage(BaseModel):
    model_config = example(
        items=[ALERT_EXAMPLE],
        next_cursor="WyIyMDI2LTExLTI2VDA5OjE1OjAwKzAwOjAwIiwiMmYwYzdjMWUiXQ",
        limit=50,
    )

    items: list[AlertRead] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    limit: int
