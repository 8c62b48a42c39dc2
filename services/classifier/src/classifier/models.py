"""The classifier's tables: its results per post version, and operators' corrections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from incidents_common.db import utcnow


class ClassificationRecord(SQLModel, table=True):
    """One classified post version; the full result (with evidence) is in `result`."""

    __tablename__ = "classifications"

    post_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True, default=1)
    model_version: str = Field(max_length=64)
    is_incident: bool = Field(index=True)
    category: str = Field(max_length=64)
    urgency: str = Field(max_length=16)
    sentiment: str = Field(max_length=16)
    region_code: str | None = Field(default=None, max_length=2, index=True)
    city: str | None = Field(default=None, max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    place_hint: str | None = Field(default=None, max_length=500)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class FeedbackRecord(SQLModel, table=True):
    """An operator's correction, stored as the full corrected label set so `train` can learn from it."""

    __tablename__ = "classifier_feedback"

    id: int | None = Field(default=None, primary_key=True)
    # The ClassificationCorrected event a correction came in (an operator's action on an incident):
    # its idempotency key, so that a redelivered or replayed event is stored once. None: POST /v1/feedback.
    event_id: str | None = Field(default=None, max_length=64, unique=True, index=True)
    post_id: str | None = Field(default=None, max_length=64, index=True)
    post_version: int | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    place_hint: str | None = Field(default=None, max_length=500)
    is_incident: bool
    category: str | None = Field(default=None, max_length=64)
    urgency: str = Field(max_length=16)
    sentiment: str = Field(max_length=16)
    region_code: str | None = Field(default=None, max_length=2)
    city: str | None = Field(default=None, max_length=128)
    corrected: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    model_version: str | None = Field(default=None, max_length=64)
    operator: str | None = Field(default=None, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)

    def training_row(self) -> dict[str, Any]:
        return {
            "id": f"feedback-{self.id}",
            "text": self.text,
            "place_hint": self.place_hint,
            "is_incident": self.is_incident,
            "category": self.category if self.is_incident else None,
            "urgency": self.urgency,
            "sentiment": self.sentiment,
            "region_code": self.region_code,
            "city": self.city,
            "split": "train",
        }


TABLES = (ClassificationRecord, FeedbackRecord)
