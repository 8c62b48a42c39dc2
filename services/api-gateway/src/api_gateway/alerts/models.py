"""Surge alerts from routing, kept for the alert list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from api_gateway.columns import js, ts
from incidents_common.db import UTCDateTime, utcnow


class SurgeAlertRecord(SQLModel, table=True):
    """A surge alert from routing (SurgeAlert): a category flaring up in one town, for the alert list."""

    __tablename__ = "gw_surge_alerts"
    # Newest first, per region (every caller but a federal one) or over all regions.
    __table_args__ = (
        Index("ix_gw_surge_alerts_region_raised", "region_code", "raised_at", "alert_id"),
        Index("ix_gw_surge_alerts_raised", "raised_at", "alert_id"),
    )

    alert_id: str = Field(primary_key=True)
    region_code: str
    region_name: str
    city: str | None = Field(default=None)
    category: str
    window_start: datetime = ts(nullable=False)
    window_end: datetime = ts(nullable=False)
    count: int
    baseline: float
    threshold: int
    score: float
    statistic: str
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    incident_ids: list[str] | None = js()
    post_ids: list[str] | None = js()
    raised_at: datetime = ts(nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
