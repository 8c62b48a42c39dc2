"""The credentials: OAuth2 clients, API keys and revoked access tokens (only hashes of secrets)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from api_gateway.columns import js, ts
from incidents_common.db import UTCDateTime, utcnow


class ApiClient(SQLModel, table=True):
    """An OAuth2 client (client credentials grant). The secret is stored only as a scrypt hash."""

    __tablename__ = "gw_client"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    secret_hash: str
    role: str = Field(max_length=32)
    regions: list[str] | None = js()
    official_id: str | None = Field(default=None, max_length=64)
    active: bool = True
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = ts()


class ApiKey(SQLModel, table=True):
    """An API key, stored only as the SHA-256 of its (high-entropy) value."""

    __tablename__ = "gw_api_key"

    key_id: str = Field(primary_key=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=32)
    regions: list[str] | None = js()
    official_id: str | None = Field(default=None, max_length=64)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = ts()


class RevokedToken(SQLModel, table=True):
    """A revoked access token id (RFC 7009); kept until the token would have expired anyway."""

    __tablename__ = "gw_revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = ts(nullable=False)
