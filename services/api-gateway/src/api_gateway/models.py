"""Every table of the gateway, for its migrations (incidents_common.migrations reads `TABLES`) and its
Database. Each table is defined by the aggregate that owns it; their columns build on columns.py."""

from __future__ import annotations

from typing import Any

from api_gateway.alerts.models import SurgeAlertRecord
from api_gateway.auth.models import ApiClient, ApiKey, RevokedToken
from api_gateway.incidents.models import Incident, IncidentEventLog, IncidentPost, Post
from api_gateway.open311.models import Open311Token
from api_gateway.replies.models import HeldReply
from api_gateway.webhooks.models import Webhook, WebhookDelivery, WebhookSecret

TABLES: list[Any] = [
    Incident,
    IncidentPost,
    IncidentEventLog,
    Post,
    ApiClient,
    ApiKey,
    RevokedToken,
    Webhook,
    WebhookSecret,
    WebhookDelivery,
    Open311Token,
    HeldReply,
    SurgeAlertRecord,
]
