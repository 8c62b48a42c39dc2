"""Actions and directory calls forwarded to routing.

Routing's answers come from the real routing app served with uvicorn (its own database, the gateway's
service tokens); a fake remains only to be slow (timeouts), and its routes and fields are checked
against routing's committed openapi.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

from api_gateway.testing import Gateway, serve
from incidents_common.testing import ServiceAuth, post_classified
from routing.config import Settings as RoutingSettings
from routing.directory.service import import_directory
from routing.incidents.snapshots import snapshot as routing_snapshot
from routing.incidents.writes import route_posts
from routing.main import create_app as create_routing

ROUTING_OPENAPI = Path(__file__).resolve().parents[2] / "routing" / "openapi.json"

DIRECTORY: dict[str, Any] = {
    "departments": [
        {"id": "dep-64-roads", "region_code": "64", "name": "Комитет дорожного хозяйства г. Саратова"},
        {"id": "dep-64-health", "region_code": "64", "name": "Министерство здравоохранения Саратовской области"},
        {"id": "dep-77-roads", "region_code": "77", "name": "Департамент транспорта Москвы"},
    ],
    "officials": [
        {
            "id": "off-64-1",
            "region_code": "64",
            "department_id": "dep-64-roads",
            "name": "Петров",
            "categories": ["roads"],
        },
        {"id": "off-64-2", "region_code": "64", "department_id": "dep-64-health", "name": "Сидорова"},
        {"id": "off-77-1", "region_code": "77", "department_id": "dep-77-roads", "name": "Иванов"},
    ],
    "rules": [
        {"priority": 10, "region_code": "64", "category": "roads", "department_id": "dep-64-roads"},
        {"priority": 10, "region_code": "77", "category": "roads", "department_id": "dep-77-roads"},
    ],
}


@contextlib.asynccontextmanager
async def real_routing(tmp_path: Path) -> AsyncIterator[tuple[str, FastAPI]]:
    """The routing service itself on a free port, with DIRECTORY imported."""
    app = create_routing(
        RoutingSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}",
            nats_enabled=False,
            seed_demo=False,
            deadline_scanner_enabled=False,
            log_json=False,
        )
    )
    async with serve(app) as url:
        async with app.state.db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        yield url, app


async def routed_incident(routing_app: FastAPI, gw: Gateway, post_id: str) -> str:
    """An incident opened by routing from a classified post, and the same incident in the gateway's read model."""
    async with routing_app.state.db.transaction() as session:
        (incident,) = await route_posts(
            session.writes, [post_classified(post_id, "Огромная яма на дороге")], settings=routing_app.state.settings
        )
        assert incident is not None
        snap = routing_snapshot(incident)
    await gw.create(snap)
    return incident.id


def operator(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, auth=ServiceAuth("routing"))


class TestActions:
    async def test_actions_reach_routing_as_the_caller(self, make_gateway, tmp_path: Path) -> None:
        async with real_routing(tmp_path) as (url, routing_app), make_gateway(routing_url=url) as gw:
            incident_id = await routed_incident(routing_app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            response = await gw.client.post(
                path, json={"action": "take", "comment": "Выезжаем"}, headers=gw.headers("official64")
            )
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "in_progress"
            last = response.json()["history"][-1]
            # The actor is the user named in the gateway's service token (routing refuses a body field).
            assert (last["action"], last["actor"], last["comment"]) == ("take", "off-64-1", "Выезжаем")

            # Reassigning to another region's official is refused before routing is asked to act.
            foreign = {"action": "reassign", "official_id": "off-77-1"}
            refused = await gw.client.post(path, json=foreign, headers=gw.headers("admin64"))
            assert refused.status_code == 404
            local = {"action": "reassign", "official_id": "off-64-2"}
            moved = await gw.client.post(path, json=local, headers=gw.headers("admin64"))
            assert moved.status_code == 200, moved.text
            assert moved.json()["assignee"]["official_id"] == "off-64-2"

            reject = {"action": "reject", "reason": "Не в ведении региона"}
            response = await gw.client.post(path, json=reject, headers=gw.headers("admin64"))
            assert response.status_code == 200
            assert response.json()["reject_reason"] == "Не в ведении региона"
            assert response.json()["history"][-1]["actor"].startswith("key:")
            async with operator(url) as http:
                history = (await http.get(f"/v1/incidents/{incident_id}")).json()["history"]
            assert [h["actor"] for h in history if h["action"] in ("take", "reject")][0] == "off-64-1"

    async def test_the_audit_log_is_checked_by_routing_for_the_caller(self, make_gateway, tmp_path: Path) -> None:
        async with real_routing(tmp_path) as (url, routing_app), make_gateway(routing_url=url) as gw:
            incident_id = await routed_incident(routing_app, gw, "p1")
            path = f"/v1/incidents/{incident_id}/actions"
            reply = {"action": "reply", "reply_text": "Яму заделаем до пятницы", "reply_url": "https://vk.com/wall-1_2"}
            assert (await gw.client.post(path, json=reply, headers=gw.headers("admin64"))).status_code == 200
            audit = await gw.client.get(f"/v1/incidents/{incident_id}/audit", headers=gw.headers("official64"))
            assert audit.status_code == 200, audit.text
            assert audit.json()["ok"] and audit.json()["entries"] >= 3
            async with routing_app.state.db.engine.begin() as connection:
                await connection.exec_driver_sql(
                    "UPDATE routing_incident_history SET comment = 'Яма заделана' WHERE action = 'reply'"
                )
            audit = await gw.client.get(f"/v1/incidents/{incident_id}/audit", headers=gw.headers("admin64"))
            assert not audit.json()["ok"] and "запись изменена" in audit.json()["reason"]

    async def test_routing_errors_pass_through_as_problems(self, make_gateway, tmp_path: Path) -> None:
        async with real_routing(tmp_path) as (url, routing_app), make_gateway(routing_url=url) as gw:
            incident_id = await routed_incident(routing_app, gw, "p1")
            conflict = await gw.client.post(
                f"/v1/incidents/{incident_id}/actions", json={"action": "reopen"}, headers=gw.headers("admin64")
            )
            assert conflict.status_code == 409
            assert conflict.headers["content-type"] == "application/problem+json"
            assert conflict.json()["title"] == "Действие недоступно в текущем статусе"
            assert conflict.json()["detail"] == "Действие «открыть повторно» недоступно: инцидент в статусе «назначен»"

    async def test_a_slow_routing_is_a_504_without_retry_advice_and_the_write_is_not_retried(
        self, make_gateway, contracts
    ) -> None:
        calls: list[dict[str, Any]] = []
        async with serve(contracts.checked("routing", slow_routing(calls))) as routing_url:
            async with make_gateway(routing_url=routing_url, upstream_timeout=0.3) as gw:
                from incidents_common.testing import incident_snapshot

                await gw.create(incident_snapshot("inc-1"))
                slow = await gw.client.post(
                    "/v1/incidents/inc-1/actions", json={"action": "close"}, headers=gw.headers("admin64")
                )
                # Routing may still apply it: the client is told to read the incident, not to retry.
                assert slow.status_code == 504, slow.text
                assert slow.headers["content-type"] == "application/problem+json"
                assert "retry-after" not in slow.headers
                assert "may still be applied" in slow.json()["detail"]
                # A write that may have reached routing is not retried (no double action).
                assert [c["action"] for c in calls] == ["close"]
                # What the gateway sends is routing's ActionRequest (no actor: routing takes the token's).
                action = json.loads(ROUTING_OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"][
                    "ActionRequest"
                ]
                assert set(calls[0]) <= set(action["properties"]) and "actor" not in calls[0]

    async def test_routing_down_is_a_503_problem(self, gw: Gateway) -> None:
        from incidents_common.testing import incident_snapshot

        await gw.create(incident_snapshot("inc-1"))
        response = await gw.client.post(
            "/v1/incidents/inc-1/actions", json={"action": "take"}, headers=gw.headers("admin64")
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "routing" in response.json()["detail"]
        assert response.headers["retry-after"] == "5"

    async def test_minting_a_key_for_an_official_needs_routing(self, gw: Gateway) -> None:
        body = {"name": "x", "role": "official", "regions": ["64"], "official_id": "off-64-1"}
        response = await gw.client.post("/v1/admin/keys", json=body, headers=gw.headers("admin64"))
        assert response.status_code == 503  # unchecked, nothing is minted
        listed = (await gw.client.get("/v1/admin/keys", headers=gw.headers("admin64"))).json()
        assert "x" not in {k["name"] for k in listed}


class TestDirectory:
    async def test_reads_are_filtered_and_writes_scoped_to_own_regions(self, make_gateway, tmp_path: Path) -> None:
        async with real_routing(tmp_path) as (url, _), make_gateway(routing_url=url) as gw:
            admin = gw.headers("admin64")
            listed = (await gw.client.get("/v1/directory/officials", headers=admin)).json()
            assert [o["id"] for o in listed] == ["off-64-1", "off-64-2"]
            assert (
                await gw.client.get("/v1/directory/officials", params={"region": "77"}, headers=admin)
            ).status_code == 404
            created = await gw.client.post(
                "/v1/directory/departments", json={"region_code": "64", "name": "Комитет ЖКХ"}, headers=admin
            )
            assert created.status_code == 201 and created.json()["id"].startswith("64-")
            patched = await gw.client.patch("/v1/directory/officials/off-64-1", json={"active": False}, headers=admin)
            assert patched.status_code == 200 and patched.json()["active"] is False
            foreign = await gw.client.patch("/v1/directory/officials/off-77-1", json={"active": False}, headers=admin)
            assert foreign.status_code == 404
            async with operator(url) as http:
                assert (await http.get("/v1/officials/off-77-1")).json()["active"] is True
            invalid = await gw.client.patch("/v1/directory/officials/off-64-1", json={"active": None}, headers=admin)
            assert invalid.status_code == 422  # routing's answer, relayed


# -- the one fake left: a routing that is too slow ----------------------------------------------


def slow_routing(calls: list[dict[str, Any]], delay: float = 1.5) -> FastAPI:
    """Routing's action endpoint, answering after `delay` (longer than the gateway's timeout) with an
    IncidentRead as the real routing gives it; served through `contracts.checked("routing", …)`."""
    app = FastAPI()

    @app.post("/v1/incidents/{incident_id}/actions")
    async def act(incident_id: str, request: Request) -> Any:
        calls.append(await request.json())
        await asyncio.sleep(delay)
        return {
            "incident_id": incident_id,
            "region_code": "64",
            "region_name": "Саратовская область",
            "city": "Саратов",
            "category": "roads",
            "urgency": "normal",
            "status": "closed",
            "severity": 1,
            "title": "Яма на дороге",
            "summary": "Обращение жителей",
            "escalation_level": 0,
            "flagged": False,
            "complainants": 1,
            "total_reach": 0,
            "created_at": "2026-11-20T09:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
            "history": [],
        }

    return app


async def test_the_slow_fake_answers_as_the_real_routing_does(contracts) -> None:
    """Its answer, without the delay, validates against routing's committed openapi.json: the operation
    exists, the status is documented, IncidentRead's required fields are there and no field is unknown."""
    app = contracts.checked("routing", slow_routing([], delay=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as http:
        response = await http.post("/v1/incidents/inc-1/actions", json={"action": "close"})
    assert response.status_code == 200
    assert contracts.answers == ["routing: POST /v1/incidents/inc-1/actions → 200"]
    contracts.assert_kept()
    # What it is asked: routing's ActionRequest, closed, with no actor (routing takes the token's user).
    action = json.loads(ROUTING_OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]["ActionRequest"]
    assert "actor" not in action["properties"] and action.get("additionalProperties") is False
