"""Who handed an incident on, and a move to another region, through the gateway over a REAL routing.

The events are routing's own: what its actions queued in its outbox, applied to the gateway's read
model as the consumer `gateway-incident-events` applies them. A redirect and a reassignment show in the
gateway's history with who acted and why, as routing's audit log has them; a correction of the region
reaches the region the incident left (its SSE stream, its webhooks), not only the region it went to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from sqlmodel import col, delete, select

from api_gateway.auth.principal import Role
from api_gateway.incidents.consumers import apply_incident_events
from api_gateway.main import create_app
from api_gateway.testing import Gateway, gateway_settings, read_events, serve
from incidents_common.db import OutboxMessage, writes_of
from incidents_common.events import IncidentEvent, decode_event
from incidents_common.testing import ServiceAuth, post_classified
from routing.directory.service import import_directory
from routing.incidents.writes import route_posts
from routing.main import create_app as create_routing

from .test_directory_over_routing import routing_settings

DIRECTORY: dict[str, Any] = {
    "departments": [
        {"id": "dep-64-roads", "region_code": "64", "name": "Комитет дорожного хозяйства г. Саратова"},
        {"id": "dep-64-gzhi", "region_code": "64", "name": "Государственная жилищная инспекция"},
        {"id": "dep-77-roads", "region_code": "77", "name": "Департамент транспорта и дорог Москвы"},
    ],
    "officials": [
        {"id": "off-64-1", "region_code": "64", "department_id": "dep-64-roads", "name": "Петров"},
        {"id": "off-64-2", "region_code": "64", "department_id": "dep-64-roads", "name": "Сидоров"},
        {"id": "gzhi-64-1", "region_code": "64", "department_id": "dep-64-gzhi", "name": "Кузнецов"},
        {"id": "off-77-1", "region_code": "77", "department_id": "dep-77-roads", "name": "Иванов"},
    ],
    "rules": [
        {"priority": 10, "region_code": "64", "category": "roads", "department_id": "dep-64-roads"},
        {"priority": 10, "region_code": "77", "category": "roads", "department_id": "dep-77-roads"},
    ],
}


@dataclass
class System:
    gw: Gateway
    routing: FastAPI
    routing_url: str
    hook_url: str
    received: list[dict[str, Any]]

    async def relay(self) -> list[tuple[str, str]]:
        """Routing's queued events to the gateway's read model, in one batch as the consumer takes
        them; (subject, type) of each, as the outbox relay would publish it."""
        async with self.routing.state.db.transaction() as session:
            rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
            await session.exec(delete(OutboxMessage))  # type: ignore[call-overload]  # sqlmodel types exec() for select() only
        events = [decode_event(row.payload) for row in rows]
        incident_events = [event for event in events if isinstance(event.data, IncidentEvent)]
        async with self.gw.app.state.db.transaction() as session:
            await apply_incident_events(writes_of(session), incident_events)
        return [(row.subject, event.type) for row, event in zip(rows, events, strict=True)]

    async def act(self, key: str, incident_id: str, **body: Any) -> dict[str, Any]:
        response = await self.gw.client.post(
            f"/v1/incidents/{incident_id}/actions", json=body, headers=self.gw.headers(key)
        )
        assert response.status_code == 200, response.text
        await self.relay()
        return response.json()  # type: ignore[no-any-return]

    async def routing_history(self, incident_id: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.routing_url, auth=ServiceAuth("routing")) as client:
            response = await client.get(f"/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        return response.json()["history"]  # type: ignore[no-any-return]


def receiver(received: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Any:
        received.append(orjson.loads(await request.body()))
        return {"ok": True}

    return app


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[System]:
    settings = routing_settings(tmp_path)
    routing_app = create_routing(settings)
    received: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        routing_url = await stack.enter_async_context(serve(routing_app))
        hook_url = await stack.enter_async_context(serve(receiver(received)))
        async with routing_app.state.db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        # Streams need real HTTP: the gateway under uvicorn too. Webhooks are driven by hand below.
        gateway_config = gateway_settings(tmp_path, routing_url=routing_url, webhook_allowed_hosts=["127.0.0.1"])
        gateway_app = create_app(gateway_config)
        url = await stack.enter_async_context(serve(gateway_app))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=10))
        gw = Gateway(app=gateway_app, client=client, settings=gateway_config)
        gw.keys["admin64"] = await gw.key(Role.regional_admin, ["64"])
        gw.keys["admin77"] = await gw.key(Role.regional_admin, ["77"])
        gw.keys["integration64"] = await gw.key(Role.integration, ["64"])
        gw.keys["integration77"] = await gw.key(Role.integration, ["77"])
        yield System(
            gw=gw, routing=routing_app, routing_url=routing_url, hook_url=f"{hook_url}/hook", received=received
        )


async def stream(system: System, key: str, count: int) -> list[dict[str, Any]]:
    """The first `count` events of the caller's SSE stream, from the start of the log."""
    headers = system.gw.headers(key)
    async with system.gw.client.stream("GET", "/v1/events/stream", params={"from_start": "true"}, headers=headers) as r:
        assert r.status_code == 200
        events = await read_events(r, count)
    return [{"event": e["event"], **orjson.loads(e["data"])} for e in events]


async def test_redirects_reassignments_and_a_move_reach_every_region_concerned(system: System) -> None:
    gw = system.gw
    post = post_classified("p-move", "Третий день яма у подъезда на Московской, машины бьют колёса")
    async with system.routing.state.db.transaction() as session:
        (incident,) = await route_posts(writes_of(session), [post], settings=system.routing.state.settings)
    assert incident is not None and incident.region_code == "64" and incident.assignee_id in ("off-64-1", "off-64-2")
    await system.relay()
    # Region 64's integration listens on a webhook from here on (every event type).
    hook = {"url": system.hook_url, "secret": "a-shared-secret-of-enough-length"}
    created = await gw.client.post("/v1/webhooks", json=hook, headers=gw.headers("integration64"))
    assert created.status_code == 201, created.text

    await system.act(
        "admin64", incident.id, action="redirect", target_department_id="dep-64-gzhi", reason="это жилищная инспекция"
    )
    await system.act("admin64", incident.id, action="reassign", official_id="off-64-2", comment="по графику дежурств")
    before = await gw.client.get(f"/v1/incidents/{incident.id}", headers=gw.headers("admin64"))
    assert before.status_code == 200 and before.json()["assignee"]["official_id"] == "off-64-2"

    response = await gw.client.post(
        f"/v1/incidents/{incident.id}/actions",
        json={"action": "correct", "region_code": "77", "comment": "это Москва"},
        headers=gw.headers("admin64"),
    )
    assert response.status_code == 200, response.text
    published = await system.relay()
    assert [subject for subject, _ in published if ".incident." in subject] == [
        "incidents.v1.incident.assigned.77",
        "incidents.v1.incident.corrected.77",
        "incidents.v1.incident.moved_out.64",
    ]

    # The history names who acted and why, as routing's own audit log does.
    assert (await gw.client.get(f"/v1/incidents/{incident.id}", headers=gw.headers("admin64"))).status_code == 404
    detail = (await gw.client.get(f"/v1/incidents/{incident.id}", headers=gw.headers("admin77"))).json()
    assert (detail["region_code"], detail["assignee"]["official_id"]) == ("77", "off-77-1")
    assigned = [h for h in detail["history"] if h["type"] == "incident.assigned"]
    routing_assigned = [h for h in await system.routing_history(incident.id) if h["action"] == "assigned"]
    admin = routing_assigned[1]["actor"]
    assert admin and admin.startswith("key:"), "routing names the gateway's caller"
    assert [(h["actor"], h["detail"]["comment"]) for h in assigned] == [
        (None, None),  # routing's rules chose
        (admin, "Перенаправлен: это жилищная инспекция"),
        (admin, "по графику дежурств"),
        (admin, "Классификация исправлена: регион: 64 (Саратовская область) → 77 (Москва)"),
    ]
    assert [h["actor"] for h in routing_assigned] == ["routing", admin, admin, admin]
    assert [f"{h['detail']['explanation']} — {h['detail']['comment']}" for h in assigned[1:]] == [
        h["comment"] for h in routing_assigned[1:]
    ]
    (moved,) = [h for h in detail["history"] if h["type"] == "incident.moved_out"]
    assert moved["actor"] == admin
    assert moved["detail"] == {"from_region_code": "64", "to_region_code": "77", "comment": "это Москва"}

    # Region 64 hears that the incident left, with the snapshot after the move; region 77 gets it as before.
    old = await stream(system, "integration64", 5)
    assert [e["event"] for e in old] == [
        "incident.created",
        "incident.assigned",
        "incident.assigned",
        "incident.assigned",
        "incident.moved_out",
    ]
    left = old[-1]["data"]
    assert (left["from_region_code"], left["to_region_code"], left["incident"]["region_code"]) == ("64", "77", "77")
    new = await stream(system, "integration77", 2)
    assert [e["event"] for e in new] == ["incident.assigned", "incident.corrected"]
    assert new[1]["data"]["previous"]["region_code"] == "64"

    # Region 64's webhook too: the redirect, the reassignment (who and why) and the move.
    dispatcher = gw.app.state.dispatcher
    await dispatcher.fan_out()
    await dispatcher.deliver_due()
    assert [e["type"] for e in system.received] == [
        "ru.incidents.incident.assigned",
        "ru.incidents.incident.assigned",
        "ru.incidents.incident.moved_out",
    ]
    assert [e["data"].get("actor") for e in system.received] == [admin, admin, admin]
    assert system.received[-1]["data"]["incident"]["region_code"] == "77"
