"""Replies held by the quality guard for the region's curator."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from api_gateway.columns import js, ts
from incidents_common.db import UTCDateTime, utcnow


class HeldReply(SQLModel, table=True):
    """A reply (or interim answer) held by the quality guard for the region's curator (issue 14): the
    curator releases it (it goes out, the override in the audit log) or returns it to its author."""

    __tablename__ = "gw_held_reply"
    __table_args__ = (Index("ix_gw_held_reply_region_status", "region_code", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    incident_id: str = Field(index=True, max_length=64)
    region_code: str = Field(max_length=2)
    action: str = Field(max_length=20)  # reply or interim_answer
    reply_text: str = Field(sa_column=Column(Text, nullable=False))
    reply_url: str | None = Field(default=None, max_length=2000)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    author: str = Field(max_length=200)  # the official's id, or the caller's subject
    author_name: str = Field(max_length=300)
    quality: float
    threshold: float
    reasons: list[str] | None = js()
    suggestions: list[str] | None = js()
    status: str = Field(default="held", max_length=20)  # held, released, returned, superseded
    decided_by: str | None = Field(default=None, max_length=300)
    decision_reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    decided_at: datetime | None = ts()
