"""The surge detector's tables: complaints counted per place, category and time bucket; the alerts raised."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime

REGION_AS_A_WHOLE = ""
"""The `city` of complaints that named no town: a key column cannot be NULL."""


class SurgeBucket(SQLModel, table=True):
    """How many complaints of one place and category came in one bucket of time (keyed by the post's
    publication time, or by when routing saw it when that is older than the window)."""

    __tablename__ = "routing_surge_buckets"
    # The history's start (min(bucket_start)) is an index lookup, whatever the table's size.
    __table_args__ = (Index("ix_routing_surge_buckets_bucket_start", "bucket_start"),)

    region_code: str = Field(primary_key=True, max_length=2)
    city: str = Field(primary_key=True, max_length=200)
    category: str = Field(primary_key=True, max_length=50)
    bucket_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    count: int = 0


class SurgeAlertRecord(SQLModel, table=True):
    """An alert raised: what the cool-down and the one-alert-per-window rule read back."""

    __tablename__ = "routing_surge_alerts"
    __table_args__ = (Index("ix_routing_surge_alerts_place", "region_code", "city", "category", "raised_at"),)

    alert_id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=2)
    city: str = Field(max_length=200)
    category: str = Field(max_length=50)
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    count: int
    baseline: float
    threshold: int
    score: float
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime = Field(sa_type=UTCDateTime)
