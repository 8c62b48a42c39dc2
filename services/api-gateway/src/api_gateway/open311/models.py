"""Open311 service requests submitted through the gateway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow


class Open311Token(SQLModel, table=True):
    """An Open311 service request submitted through the gateway, before and after it became an incident."""

    __tablename__ = "gw_open311_token"

    token: str = Field(primary_key=True, max_length=64)
    external_id: str = Field(index=True, max_length=255)
    post_id: str | None = Field(default=None, max_length=64)
    jurisdiction_id: str = Field(max_length=8)
    service_code: str = Field(max_length=64)
    owner: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
