"""Test helpers for the gateway (used by its tests and the end-to-end suite): a running app with
credentials, events fed to the read model as the consumers apply them, and a uvicorn runner for fakes.
The events themselves are built with incidents_common.testing's factories (`incident_snapshot`, …)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api_gateway.alerts.consumers import apply_alert_events
from api_gateway.auth import service as credentials
from api_gateway.auth.principal import Role
from api_gateway.config import Settings
from api_gateway.incidents.consumers import apply_classified_posts, apply_incident_events
from api_gateway.main import create_app
from incidents_common.events import IncidentCreated, IncidentSnapshot, PostClassified, SurgeAlert, new_event

# A fixed key, so that apps made one after another over the same test database read each other's rows.
TEST_SECRET_KEY = "jHn5qlsQPSu23LfxlHbZTvmU9WkqEEjrJ1jVkXz9YnI="  # noqa: S105 - a key for tests only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port (real sockets) and yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    """Parse `count` events from an open text/event-stream response."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def collect() -> None:
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(dict(current))
                    if len(events) == count:
                        return
                current.clear()
                continue
            if line.startswith(":"):
                continue  # a keep-alive comment
            name, _, value = line.partition(":")
            current[name] = value.strip()

    await asyncio.wait_for(collect(), timeout=15)
    return events


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)

    async def feed(self, *payloads: Any, time: datetime | None = None) -> list[Any]:
        """Apply events to the read model exactly as the NATS consumers do (one batch transaction)."""
        events = []
        for payload in payloads:
            event = new_event(payload, source="/test/routing", event_id=uuid.uuid4().hex)
            if time is not None:
                event = event.model_copy(update={"time": time})
            events.append(event)
        posts = [event for event in events if isinstance(event.data, PostClassified)]
        alerts = [event for event in events if isinstance(event.data, SurgeAlert)]
        incident_events = [event for event in events if not isinstance(event.data, PostClassified | SurgeAlert)]
        async with self.app.state.db.transaction() as session:
            if posts:
                await apply_classified_posts(session.writes, posts)
            if incident_events:
                await apply_incident_events(session.writes, incident_events)
            if alerts:
                await apply_alert_events(session.writes, alerts)
        return events

    async def create(self, snap: IncidentSnapshot) -> None:
        await self.feed(IncidentCreated(incident=snap, post_id=snap.post_ids[0]))

    async def key(self, role: Role, regions: list[str], official_id: str | None = None, name: str = "test") -> str:
        async with self.app.state.db.transaction() as session:
            _, value = await credentials.create_key(
                session, name=name, role=role, regions=regions, official_id=official_id
            )
        return value

    async def client_credentials(self, role: Role, regions: list[str]) -> tuple[str, str]:
        async with self.app.state.db.transaction() as session:
            client, secret = await credentials.create_client(session, name="portal", role=role, regions=regions)
        return client.client_id, secret

    def headers(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}


def gateway_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "nats_enabled": False,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "jwt_secret": "test-signing-secret-0123456789abcdef",
        "secret_keys": TEST_SECRET_KEY,
        "classifier_url": "http://127.0.0.1:9",
        "webhooks_enabled": False,
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 10_000,
        "routing_url": "http://127.0.0.1:9",
        "collector_url": "http://127.0.0.1:9",
        "upstream_retries": 1,
        "log_json": False,
        "sse_poll_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Gateway]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            gateway = Gateway(app=app, client=client, settings=settings)
            gateway.keys["federal"] = await gateway.key(Role.federal, [])
            gateway.keys["admin64"] = await gateway.key(Role.regional_admin, ["64"])
            gateway.keys["admin77"] = await gateway.key(Role.regional_admin, ["77"])
            gateway.keys["official64"] = await gateway.key(Role.official, ["64"], official_id="off-64-1")
            gateway.keys["integration64"] = await gateway.key(Role.integration, ["64"])
            yield gateway
