"""API models of webhook subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from api_gateway.schemas import EXAMPLE_TIME, EventTypeName, Strict, example, example_of


class WebhookCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://portal64.example/hooks/incidents",
                    "secret": "a-long-shared-secret-for-hmac",
                    "regions": ["64"],
                    "event_types": ["incident.created", "incident.status_changed"],
                }
            ]
        },
    )

    url: AnyHttpUrl
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; generated and shown once when omitted"
    )
    regions: list[str] = Field(default_factory=list, description="Narrow to these of your regions; empty = all yours")
    event_types: list[EventTypeName] = Field(
        default_factory=list, max_length=50, description="e.g. incident.created, alert.surge; empty = every type"
    )


class WebhookRead(BaseModel):
    model_config = example(
        webhook_id="wh_1a2b3c4d",
        url="https://portal64.example/hooks/incidents",
        regions=["64"],
        event_types=["incident.created"],
        active=True,
        created_at=EXAMPLE_TIME,
    )

    webhook_id: str
    url: str
    regions: list[str] | None
    event_types: list[str] | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookRead):
    model_config = example(
        **example_of(WebhookRead),
        secret="kq3Vb0yH6l2mX1sZ8rT4nC7wA9eD5fG0hJ2kL4pQ6sU",  # noqa: S106 - an OpenAPI example, not a secret
    )

    secret: str | None = Field(
        description="The HMAC key the gateway generated, shown only here; null when you sent your own (never echoed)"
    )


class DeliveryRead(BaseModel):
    model_config = example(
        id=17,
        seq=120,
        event_id="e-9c1",
        status="delivered",
        attempts=2,
        last_status_code=200,
        last_error=None,
        next_attempt_at=EXAMPLE_TIME,
        created_at=EXAMPLE_TIME,
        delivered_at=EXAMPLE_TIME,
    )

    id: int
    seq: int
    event_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
