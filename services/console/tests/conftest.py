"""The console against a real gateway app (its own SQLite read model, real credentials), in-process:
the console's httpx client is handed the gateway's ASGI app, so every call crosses the gateway's
whole stack — authentication, region scoping, validation — exactly as over the network."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api_gateway.testing import Gateway, gateway_settings, running
from console.config import Settings
from console.main import create_app
from incidents_common.events import IncidentCreated, Priority, PriorityPart, Urgency
from incidents_common.testing import incident_snapshot, post_classified

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Console:
    gateway: Gateway
    client: httpx.AsyncClient

    async def sign_in(self, key_name: str) -> httpx.Response:
        response = await self.client.post(
            "/sign-in", data={"method": "api_key", "api_key": self.gateway.keys[key_name], "next": "/"}
        )
        assert response.status_code == 303, response.text
        return response

    async def csrf(self) -> str:
        page = await self.client.get("/")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text[:500]
        return match.group(1)


async def seed(gateway: Gateway) -> None:
    """Two incidents in Saratov (64), one in Moscow (77); the first with a classified post and evidence."""
    post = post_classified("p-64-a", "Огромная яма на Ленина, вчера пробили колёса, <script>alert(1)</script>")
    await gateway.feed(post)
    await gateway.feed(
        IncidentCreated(
            incident=incident_snapshot(
                "inc-64-a",
                title="Яма на улице Ленина",
                urgency=Urgency.high,
                post_ids=["p-64-a"],
                created_at=NOW - timedelta(hours=2),
                first_response_due=NOW + timedelta(hours=3),
                total_reach=510,
            ).model_copy(
                update={
                    "sla_policy": "Политика SLA 3 (регион 64, высокая срочность)",
                    "priority": Priority(
                        score=72.0,
                        parts=[
                            PriorityPart(name="urgency", value=40, factor=40, explanation="high urgency"),
                            PriorityPart(name="reach", value=510, factor=1.8, explanation="510 views"),
                        ],
                        formula="40 × 1.80 = 72.0",
                    ),
                }
            ),
            post_id="p-64-a",
        )
    )
    await gateway.create(
        incident_snapshot(
            "inc-64-b",
            title="Не вывозят мусор",
            category="waste",
            created_at=NOW - timedelta(hours=30),
            first_response_due=NOW - timedelta(hours=1),
        )
    )
    await gateway.create(incident_snapshot("inc-77-a", region="77", city="Москва", title="Сломан лифт", official=None))


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running(gateway_settings(tmp_path)) as gateway:
        await seed(gateway)
        app = create_app(Settings(log_json=False), transport=httpx.ASGITransport(app=gateway.app))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
                yield Console(gateway=gateway, client=client)
