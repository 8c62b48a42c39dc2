"""Actions and directory calls forwarded to routing (a local fake implementing the contract)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api_gateway.testing import Gateway, serve, snapshot

OFFICIALS = [
    {"official_id": "off-64-1", "region_code": "64", "name": "Петров"},
    {"official_id": "off-77-1", "region_code": "77", "name": "Иванов"},
]


def fake_routing(calls: list[tuple[str, str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/incidents/{incident_id}/actions")
    async def act(incident_id: str, request: Request) -> Any:
        body = await request.json()
        calls.append(("POST", f"/v1/incidents/{incident_id}/actions", body))
        if body["action"] == "reopen":
            return JSONResponse(
                {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "cannot reopen from assigned"},
                status_code=409,
                media_type="application/problem+json",
            )
        if body["action"] == "close":
            await asyncio.sleep(1.5)  # slower than the gateway's timeout
        return {"incident_id": incident_id, "region_code": "64", "status": "in_progress", "history": []}

    @app.get("/v1/officials")
    async def officials(region: str) -> Any:
        calls.append(("GET", "/v1/officials", region))
        # A sloppy upstream that returns every region: the gateway must still filter.
        return OFFICIALS

    @app.post("/v1/departments", status_code=201)
    async def department(request: Request) -> Any:
        body = await request.json()
        calls.append(("POST", "/v1/departments", body))
        return {"department_id": "dep-1", **body}

    @app.patch("/v1/officials/{official_id}")
    async def patch_official(official_id: str, request: Request) -> Any:
        body = await request.json()
        calls.append(("PATCH", f"/v1/officials/{official_id}", body))
        return {**next(o for o in OFFICIALS if o["official_id"] == official_id), **body}

    return app


class TestActions:
    async def test_actions_are_forwarded_with_the_callers_identity_as_actor(self, make_gateway) -> None:
        calls: list[tuple[str, str, Any]] = []
        async with serve(fake_routing(calls)) as routing_url, make_gateway(routing_url=routing_url) as gw:
            await gw.create(snapshot("inc-1", official="off-64-1"))
            response = await gw.client.post(
                "/v1/incidents/inc-1/actions",
                json={"action": "take", "comment": "Выезжаем"},
                headers=gw.headers("official64"),
            )
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "in_progress"
            method, path, body = calls[-1]
            assert (method, path) == ("POST", "/v1/incidents/inc-1/actions")
            assert body["actor"] == "off-64-1" and body["comment"] == "Выезжаем" and body["action"] == "take"

            reject = {"action": "reject", "reason": "Не в ведении региона"}
            response = await gw.client.post("/v1/incidents/inc-1/actions", json=reject, headers=gw.headers("admin64"))
            assert response.status_code == 200
            assert calls[-1][2]["reason"] == "Не в ведении региона"
            assert calls[-1][2]["actor"].startswith("key:")

            # Reassigning to another region's official is refused before routing is asked to act.
            foreign = {"action": "reassign", "official_id": "off-77-1"}
            refused = await gw.client.post("/v1/incidents/inc-1/actions", json=foreign, headers=gw.headers("admin64"))
            assert refused.status_code == 404
            assert calls[-1] == ("GET", "/v1/officials", "64")
            local = {"action": "reassign", "official_id": "off-64-1"}
            moved = await gw.client.post("/v1/incidents/inc-1/actions", json=local, headers=gw.headers("admin64"))
            assert moved.status_code == 200
            assert calls[-1][2]["official_id"] == "off-64-1"

    async def test_routing_errors_pass_through_as_problems(self, make_gateway) -> None:
        calls: list[tuple[str, str, Any]] = []
        async with serve(fake_routing(calls)) as routing_url:
            async with make_gateway(routing_url=routing_url, upstream_timeout=0.3) as gw:
                await gw.create(snapshot("inc-1"))
                conflict = await gw.client.post(
                    "/v1/incidents/inc-1/actions", json={"action": "reopen"}, headers=gw.headers("admin64")
                )
                assert conflict.status_code == 409
                assert conflict.headers["content-type"] == "application/problem+json"
                assert conflict.json()["detail"] == "cannot reopen from assigned"
                slow = await gw.client.post(
                    "/v1/incidents/inc-1/actions", json={"action": "close"}, headers=gw.headers("admin64")
                )
                assert slow.status_code == 503
                # A write that may have reached routing is not retried (no double action).
                assert [c[2]["action"] for c in calls].count("close") == 1

    async def test_routing_down_is_a_503_problem(self, gw: Gateway) -> None:
        await gw.create(snapshot("inc-1"))
        response = await gw.client.post(
            "/v1/incidents/inc-1/actions", json={"action": "take"}, headers=gw.headers("admin64")
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "routing" in response.json()["detail"]
        assert response.headers["retry-after"] == "5"


class TestDirectory:
    async def test_reads_are_filtered_and_writes_scoped_to_own_regions(self, make_gateway) -> None:
        calls: list[tuple[str, str, Any]] = []
        async with serve(fake_routing(calls)) as routing_url, make_gateway(routing_url=routing_url) as gw:
            admin = gw.headers("admin64")
            listed = (await gw.client.get("/v1/directory/officials", headers=admin)).json()
            assert [o["official_id"] for o in listed] == ["off-64-1"]
            assert calls[-1] == ("GET", "/v1/officials", "64")
            created = await gw.client.post(
                "/v1/directory/departments", json={"region_code": "64", "name": "Комитет ЖКХ"}, headers=admin
            )
            assert created.status_code == 201 and created.json()["department_id"] == "dep-1"
            patched = await gw.client.patch("/v1/directory/officials/off-64-1", json={"active": False}, headers=admin)
            assert patched.status_code == 200 and patched.json()["active"] is False
            foreign = await gw.client.patch("/v1/directory/officials/off-77-1", json={"active": False}, headers=admin)
            assert foreign.status_code == 404
            assert ("PATCH", "/v1/officials/off-77-1", {"active": False}) not in calls
