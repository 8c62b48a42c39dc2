"""The gateway app: one secure API for regional portals over a read model built from NATS events."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api_gateway.alerts import router as alerts
from api_gateway.alerts.consumers import apply_alert_events
from api_gateway.analytics import router as analytics
from api_gateway.auth import router as auth
from api_gateway.auth.deps import AUTH_RESPONSES
from api_gateway.auth.limits import RateLimiter
from api_gateway.auth.service import ensure_demo_key
from api_gateway.auth.tokens import TokenSigner, load_signing_secret
from api_gateway.config import Settings
from api_gateway.directory import router as directory
from api_gateway.incidents import router as incidents
from api_gateway.incidents import search
from api_gateway.incidents.consumers import apply_classified_posts, apply_incident_events
from api_gateway.live import router as live
from api_gateway.models import TABLES
from api_gateway.open311 import router as open311
from api_gateway.replies import router as replies
from api_gateway.upstream import Classifier, Upstream
from api_gateway.webhooks import router as webhooks
from api_gateway.webhooks.dispatcher import WebhookDispatcher
from incidents_common.app import Consumes, create_service, stop_tasks
from incidents_common.db import Database
from incidents_common.deadletters import PROTECTED_NO_API_KEYS
from incidents_common.events import SUBJECT_ALERT_ALL, SUBJECT_INCIDENT_ALL, SUBJECT_POST_CLASSIFIED
from incidents_common.identity import Identity

DESCRIPTION = """
One API for the portals of the regions and for federal monitors.

**Authentication**: an API key in `X-API-Key` (or `Authorization: Bearer <key>`), or an OAuth2 access token
from `POST /v1/oauth/token` (client credentials) in `Authorization: Bearer <jwt>`.
Every read, search, export, action, analytics query and live stream is limited to the caller's regions;
another region's incident is a 404, exactly like one that does not exist.

Errors are RFC 9457 `application/problem+json`.
"""

TAGS = [
    {"name": "incidents", "description": "Incidents of your regions: list, search, detail, export, actions"},
    {"name": "alerts", "description": "Surge alerts: a category flaring up in a town of your regions"},
    {"name": "analytics", "description": "How regions and bodies react: shares, percentiles, rating, CSV"},
    {"name": "live", "description": "Server-Sent Events and signed webhooks"},
    {"name": "directory", "description": "Departments, officials and routing rules (via routing)"},
    {"name": "auth", "description": "OAuth2 client credentials and token revocation"},
    {"name": "admin", "description": "Clients and API keys"},
    {"name": "open311", "description": "Open311 GeoReport v2 compatibility"},
    {"name": "health", "description": "Liveness"},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Placeholder secrets from infra/example.env (or the demo key) never reach a real deployment.
    settings.check_secrets()
    db = Database(settings.resolved_database_url(), TABLES)
    dispatcher = WebhookDispatcher(db, settings)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        app.state.signer = TokenSigner(
            load_signing_secret(settings), issuer=settings.jwt_issuer, ttl=settings.token_ttl_seconds
        )
        app.state.routing = _upstream("routing", settings.routing_url, settings, app.state.identity)
        app.state.collector = _upstream("collector", settings.collector_url, settings, app.state.identity)
        app.state.classifier = Classifier(settings, app.state.identity)
        if settings.demo_api_key:
            async with db.transaction() as session:
                await ensure_demo_key(session, settings.demo_api_key)
        # Webhook secrets an earlier release stored in plain text are encrypted now, not at first delivery.
        await dispatcher.seal_plaintext()
        if settings.webhooks_enabled:
            tasks.append(asyncio.create_task(dispatcher.run(), name="gateway-webhooks"))
        search.warm_up()  # before the shared start-up freezes what is alive (app.tune_garbage_collector)

    async def stop() -> None:
        await stop_tasks(tasks)
        await dispatcher.close()
        for name in ("routing", "collector"):
            upstream = getattr(app.state, name, None)
            if upstream is not None:
                await upstream.close()

    app = create_service(
        title="Incidents API gateway",
        description=DESCRIPTION,
        version="1.0.0",
        settings=settings,
        db=db,
        consumes=[
            Consumes("gateway-incident-events", "INCIDENTS", SUBJECT_INCIDENT_ALL, apply_incident_events),
            Consumes("gateway-post-classified", "POSTS", SUBJECT_POST_CLASSIFIED, apply_classified_posts),
            # Routing's surge alerts: the alert list, and the event log's SSE streams and webhooks.
            Consumes("gateway-alert-events", "INCIDENTS", SUBJECT_ALERT_ALL, apply_alert_events, 100),
        ],
        # Every router checks its own credentials (API keys, OAuth tokens). In this order: it is the
        # order of the paths in openapi.json.
        public_routers=[
            module.router
            for module in (incidents, replies, alerts, analytics, live, webhooks, directory, auth, open311)
        ],
        # Dead letters: the operator's service token only; a gateway API key gets 403, none 401.
        admin_dependencies=PROTECTED_NO_API_KEYS,
        on_startup=[start],
        on_shutdown=[stop],
        openapi_tags=TAGS,
        allowed_callers=["operator"],  # service tokens: the operator's only (the dead-letter admin API)
    )
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.dispatcher = dispatcher
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    _list_auth_responses(app)
    return app


def _list_auth_responses(app: FastAPI) -> None:
    """Every door that authenticates its caller (an operation with `security`) lists 401 and 429 in
    openapi.json, whether or not its router remembered to: an integrator reads the contract."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema["paths"].values():
                for operation in operations.values():
                    if operation.get("security"):
                        for status, response in AUTH_RESPONSES.items():
                            operation["responses"].setdefault(str(status), dict(response))
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the generated schema


def _upstream(name: str, url: str, settings: Settings, identity: Identity) -> Upstream:
    return Upstream(
        name,
        url,
        identity=identity,
        connect_timeout=settings.upstream_connect_timeout,
        timeout=settings.upstream_timeout,
        retries=settings.upstream_retries,
    )
