"""Webhook subscriptions, their encrypted secrets and the delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from api_gateway.columns import js, ts
from incidents_common.db import UTCDateTime, utcnow


class Webhook(SQLModel, table=True):
    __tablename__ = "gw_webhook"

    webhook_id: str = Field(primary_key=True, max_length=64)
    owner: str = Field(index=True, max_length=100)
    url: str
    # Empty: the secret is in gw_webhook_secret, encrypted. A value here is a plaintext secret written
    # by the release before encryption; it is moved into gw_webhook_secret at start-up or by `rotate`.
    secret: str = Field(default="", max_length=200)
    regions: list[str] | None = js()
    event_types: list[str] | None = js()
    active: bool = True
    cursor: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class WebhookSecret(SQLModel, table=True):
    """A webhook's HMAC key, encrypted (incidents_common.secretbox). A table of its own rather than the
    old `gw_webhook.secret` column: that is VARCHAR(200) on PostgreSQL, too short for the ciphertext of
    a long secret, and a new table is created at start-up where a changed column would need a migration."""

    __tablename__ = "gw_webhook_secret"

    webhook_id: str = Field(primary_key=True, max_length=64)
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "gw_webhook_delivery"
    # One delivery per webhook and event, whichever replica fans it out (WebhookDispatcher.fan_out).
    __table_args__ = (
        Index("ux_gw_webhook_delivery_webhook_event", "webhook_id", "event_id", unique=True),
        # The dispatcher's two reads: each webhook's first pending delivery, and one webhook's pending
        # deliveries in sequence order (webhooks.dispatcher): both walk this, however long a backlog.
        Index("ix_gw_webhook_delivery_status_webhook_seq", "status", "webhook_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(index=True, max_length=64)
    seq: int
    event_id: str = Field(max_length=64)
    status: str = Field(default="pending", index=True, max_length=16)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime = ts(nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: datetime | None = ts()
