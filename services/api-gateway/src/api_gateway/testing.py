"""Test helpers for the gateway (used by its tests and the end-to-end suite): a running app with
credentials, events fed to the read model as the consumers apply them, and a uvicorn runner for fakes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from incidents_common.events import (
    Assignee,
    Author,
    Classification,
    IncidentCreated,
    IncidentSnapshot,
    IncidentStatus,
    LabelResult,
    PlaceHints,
    PostClassified,
    Reach,
    RegionResult,
    SourceType,
    SurgeAlert,
    Urgency,
    new_event,
)
from incidents_common.regions import REGIONS

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
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


def snapshot(
    incident_id: str,
    *,
    region: str = "64",
    city: str | None = "Саратов",
    category: str = "roads",
    status: IncidentStatus = IncidentStatus.assigned,
    urgency: Urgency = Urgency.normal,
    title: str = "Яма на дороге",
    summary: str = "Обращение жителей",
    official: str | None = "off-64-1",
    department: str = "dep-64-roads",
    post_ids: list[str] | None = None,
    created_at: datetime = T0,
    updated_at: datetime | None = None,
    first_response_due: datetime | None = None,
    final_due: datetime | None = None,
    first_response_at: datetime | None = None,
    severity: int = 1,
    total_reach: int = 0,
) -> IncidentSnapshot:
    assignee = None
    if official:
        assignee = Assignee(
            official_id=official,
            name=f"Чиновник {official}",
            department_id=department,
            department_name=f"Ведомство {department}",
        )
    return IncidentSnapshot(
        incident_id=incident_id,
        region_code=region,
        region_name=REGIONS[region].name,
        city=city,
        category=category,
        urgency=urgency,
        status=status,
        severity=severity,
        title=title,
        summary=summary,
        assignee=assignee,
        assignment_explanation="Правило: дороги → дорожный комитет" if official else None,
        post_ids=post_ids or [f"post-{incident_id}"],
        total_reach=total_reach,
        first_response_due=first_response_due if first_response_due is not None else created_at + timedelta(hours=8),
        final_due=final_due,
        first_response_at=first_response_at,
        created_at=created_at,
        updated_at=updated_at or created_at,
    )


def surge(
    alert_id: str,
    *,
    region: str = "64",
    city: str | None = "Саратов",
    category: str = "housing_utilities",
    raised_at: datetime = T0,
    count: int = 52,
) -> SurgeAlert:
    """A surge alert as routing raises it."""
    return SurgeAlert(
        alert_id=alert_id,
        region_code=region,
        region_name=REGIONS[region].name,
        city=city,
        category=category,
        window_start=raised_at - timedelta(hours=1),
        window_end=raised_at,
        count=count,
        baseline=1.3,
        threshold=10,
        score=1e-60,
        statistic="poisson_upper_tail",
        explanation=f"{count} posts about {category} in {city} in the last 60 min; baseline 1.3 per 60 min",
        incident_ids=[f"inc-{alert_id}"],
        post_ids=[f"post-{alert_id}"],
        raised_at=raised_at,
    )


def classified(
    post_id: str, text: str, *, region: str = "64", version: int = 1, external_id: str | None = None
) -> PostClassified:
    label = LabelResult(label="roads", confidence=0.9, evidence=["яма"])
    return PostClassified(
        post_id=post_id,
        version=version,
        source_type=SourceType.vk,
        external_id=external_id or f"ext-{post_id}",
        url=f"https://vk.com/wall-1_{post_id}",
        author=Author(id="u1", name="Анна К."),
        text=text,
        published_at=T0,
        place_hints=PlaceHints(region_code=region, latitude=51.53, longitude=46.03),
        reach=Reach(likes=10, views=500),
        classification=Classification(
            model_version="test-1",
            is_incident=True,
            incident=LabelResult(label="complaint", confidence=0.95, evidence=["пробили колёса"]),
            category=label,
            region=RegionResult(code=region, name=REGIONS[region].name, confidence=0.8, evidence=["Саратов"]),
            urgency=LabelResult(label="normal", confidence=0.7),
            sentiment=LabelResult(label="negative", confidence=0.8),
        ),
    )


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
