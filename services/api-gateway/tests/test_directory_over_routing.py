"""The gateway over a REAL routing (uvicorn, its own database, service tokens): issue 10's attacks.

Two lines of defence are checked separately: routing refuses on its own (its tests and the
requests that reach it here), and the gateway refuses before routing is asked to write (a recorder
wrapped around the real routing app shows which requests reached it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api_gateway.directory.schemas import DepartmentRead, OfficialRead, RuleRead
from api_gateway.incidents.actions import OFFICIAL_ACTIONS
from api_gateway.testing import Gateway, gateway_settings, running, serve
from incidents_common.testing import ServiceAuth
from routing.access import OFFICIAL_ACTIONS as ROUTING_OFFICIAL_ACTIONS
from routing.config import Settings as RoutingSettings
from routing.directory.service import import_directory
from routing.main import create_app as create_routing

DIRECTORY: dict[str, Any] = {
    "departments": [
        {"id": "dep-64-roads", "region_code": "64", "name": "Комитет дорожного хозяйства г. Саратова"},
        {"id": "dep-77-roads", "region_code": "77", "name": "Департамент транспорта и дорог Москвы"},
    ],
    "officials": [
        {"id": "off-64-1", "region_code": "64", "department_id": "dep-64-roads", "name": "Петров"},
        {"id": "off-77-1", "region_code": "77", "department_id": "dep-77-roads", "name": "Иванов"},
    ],
    "rules": [
        {"priority": 10, "region_code": "64", "category": "roads", "department_id": "dep-64-roads"},
        {"priority": 10, "region_code": "77", "category": "roads", "department_id": "dep-77-roads"},
    ],
}


class Recorder:
    """An ASGI wrapper that notes every HTTP request reaching the app (method, path)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@dataclass
class System:
    gw: Gateway
    routing_url: str
    recorder: Recorder
    ids: dict[str, int] = field(default_factory=dict)

    def operator(self) -> httpx.AsyncClient:
        """Routing as the operator sees it (to check what really changed)."""
        return httpx.AsyncClient(base_url=self.routing_url, auth=ServiceAuth("routing"))


def routing_settings(tmp_path: Path) -> RoutingSettings:
    """A real routing on its own SQLite file, without NATS, demo data or the deadline scan."""
    return RoutingSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}",
        nats_enabled=False,
        seed_demo=False,
        deadline_scanner_enabled=False,
        log_json=False,
    )


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[System]:
    routing_app = create_routing(routing_settings(tmp_path))
    recorder = Recorder(routing_app)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve(recorder))  # type: ignore[arg-type]
        async with routing_app.state.db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        gw = await stack.enter_async_context(running(gateway_settings(tmp_path, routing_url=url)))
        found = System(gw=gw, routing_url=url, recorder=recorder)
        async with found.operator() as http:
            for rule in (await http.get("/v1/rules")).json():
                found.ids[f"rule{rule['region_code']}"] = rule["id"]
        yield found


class TestTheAttack:
    async def test_a_department_named_like_a_moscow_official_gives_no_hold_on_it(self, system: System) -> None:
        """Saratov's admin plants a department whose id is a Moscow official's id, then an official
        in it, then patches the Moscow official by id: 404, and the Moscow official is unchanged."""
        gw, admin = system.gw, system.gw.headers("admin64")
        planted = await gw.client.post(
            "/v1/directory/departments",
            json={"id": "off-77-1", "region_code": "64", "name": "Подставной отдел"},
            headers=admin,
        )
        assert planted.status_code == 201, planted.text
        inside = await gw.client.post(
            "/v1/directory/officials",
            json={"region_code": "64", "name": "Подставной сотрудник", "department_id": "off-77-1"},
            headers=admin,
        )
        assert inside.status_code == 201, inside.text
        system.recorder.calls.clear()
        attack = await gw.client.patch(
            "/v1/directory/officials/off-77-1", json={"active": False, "email": "x@example.org"}, headers=admin
        )
        assert attack.status_code == 404
        assert attack.headers["content-type"] == "application/problem+json"
        # The gateway asked routing for the official itself (for this user) and never sent the PATCH.
        assert system.recorder.calls == [("GET", "/v1/officials/off-77-1")]
        async with system.operator() as http:
            victim = (await http.get("/v1/officials/off-77-1")).json()
        assert victim["active"] is True and victim["email"] is None and victim["region_code"] == "77"

    async def test_routing_refuses_the_patch_on_its_own(self, system: System) -> None:
        """The second line alone: the same PATCH straight to routing, signed as the gateway for admin64."""
        from incidents_common.identity import ActingUser

        user = ActingUser("key:admin64", "regional_admin", frozenset({"64"}))
        auth = ServiceAuth("routing", identity="api-gateway", user=user)
        async with httpx.AsyncClient(base_url=system.routing_url, auth=auth) as http:
            await http.post("/v1/departments", json={"id": "off-77-1", "region_code": "64", "name": "x"})
            response = await http.patch("/v1/officials/off-77-1", json={"active": False})
            assert response.status_code == 404
            assert (await http.get("/v1/officials/off-77-1")).status_code == 404
        async with system.operator() as http:
            assert (await http.get("/v1/officials/off-77-1")).json()["active"] is True


class TestDirectoryWrites:
    async def test_patches_need_the_object_in_ones_regions(self, system: System) -> None:
        gw, admin = system.gw, system.gw.headers("admin64")
        own = await gw.client.patch("/v1/directory/officials/off-64-1", json={"on_leave": True}, headers=admin)
        assert own.status_code == 200 and own.json()["on_leave"] is True
        for path in ("/v1/directory/departments/dep-77-roads", "/v1/directory/officials/off-77-1"):
            assert (await gw.client.patch(path, json={"active": False}, headers=admin)).status_code == 404
        ghost = await gw.client.patch("/v1/directory/departments/ghost", json={"active": False}, headers=admin)
        assert ghost.status_code == 404
        for key in ("federal", "official64", "integration64"):
            refused = await gw.client.patch(
                "/v1/directory/officials/off-64-1", json={"active": False}, headers=gw.headers(key)
            )
            assert refused.status_code == 403, key
        async with system.operator() as http:
            assert (await http.get("/v1/departments/dep-77-roads")).json()["active"] is True

    async def test_rules_can_be_patched_in_ones_regions(self, system: System) -> None:
        gw, admin = system.gw, system.gw.headers("admin64")
        own = await gw.client.patch(f"/v1/directory/rules/{system.ids['rule64']}", json={"priority": 5}, headers=admin)
        assert own.status_code == 200 and own.json()["priority"] == 5
        system.recorder.calls.clear()
        foreign = await gw.client.patch(
            f"/v1/directory/rules/{system.ids['rule77']}", json={"active": False}, headers=admin
        )
        assert foreign.status_code == 404
        assert all(method == "GET" for method, _ in system.recorder.calls)
        assert (await gw.client.patch("/v1/directory/rules/abc", json={}, headers=admin)).status_code == 404
        across = await gw.client.patch(
            f"/v1/directory/rules/{system.ids['rule64']}", json={"department_id": "dep-77-roads"}, headers=admin
        )
        assert across.status_code == 404  # routing: another region's department is unknown
        async with system.operator() as http:
            rules = {r["id"]: r for r in (await http.get("/v1/rules")).json()}
        assert rules[system.ids["rule77"]]["active"] is True
        assert rules[system.ids["rule64"]]["department_id"] == "dep-64-roads"

    async def test_a_malformed_body_is_refused_before_routing_is_asked(self, system: System) -> None:
        gw, admin = system.gw, system.gw.headers("admin64")
        system.recorder.calls.clear()
        for path, body in [
            ("/v1/directory/departments", {"region_code": "64", "name": "x", "city": "Саратов"}),  # no such field
            ("/v1/directory/officials", {"region_code": "64", "name": "x", "work_start": "18:00", "work_end": "09:00"}),
            ("/v1/directory/officials", {"region_code": "64", "name": "x", "timezone": "Europe/Saratoff"}),
            ("/v1/directory/rules", {"region_code": "64", "category": "дороги", "department_id": "dep-64-roads"}),
            ("/v1/directory/rules", {"region_code": "99", "department_id": "dep-64-roads"}),
        ]:
            refused = await gw.client.post(path, json=body, headers=admin)
            assert refused.status_code == 422, (path, body, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        nulled = await gw.client.patch("/v1/directory/officials/off-64-1", json={"name": None}, headers=admin)
        assert nulled.status_code == 422, nulled.text
        assert system.recorder.calls == []

    async def test_what_routing_returns_is_served_in_the_documented_shape(self, system: System) -> None:
        gw, admin = system.gw, system.gw.headers("admin64")
        created = await gw.client.post(
            "/v1/directory/departments",
            json={"region_code": "64", "name": "Комитет по благоустройству", "municipality": "Саратов"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        assert set(created.json()) == set(DepartmentRead.model_fields)
        assert created.json()["municipality"] == "Саратов" and created.json()["kind"] == "ministry"
        officials = (await gw.client.get("/v1/directory/officials", params={"region": "64"}, headers=admin)).json()
        assert officials and all(set(o) == set(OfficialRead.model_fields) for o in officials)
        rules = (await gw.client.get("/v1/directory/rules", params={"region": "64"}, headers=admin)).json()
        assert rules and all(set(r) == set(RuleRead.model_fields) for r in rules)

    async def test_creating_an_official_in_another_regions_department_is_refused(self, system: System) -> None:
        gw, admin = system.gw, system.gw.headers("admin64")
        response = await gw.client.post(
            "/v1/directory/officials",
            json={"region_code": "64", "name": "x", "department_id": "dep-77-roads"},
            headers=admin,
        )
        assert response.status_code == 404


class TestCredentialsForOfficials:
    @pytest.mark.parametrize("path", ["/v1/admin/keys", "/v1/admin/clients"])
    async def test_official_id_must_be_an_official_of_the_credentials_regions(self, system: System, path: str) -> None:
        gw = system.gw
        for official_id in ("off-77-1", "ghost"):
            body = {"name": "x", "role": "official", "regions": ["64"], "official_id": official_id}
            refused = await gw.client.post(path, json=body, headers=gw.headers("admin64"))
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert official_id in refused.json()["detail"]
        # A federal granter sees Moscow, but the credential is for Saratov: still refused.
        mismatch = {"name": "x", "role": "official", "regions": ["64"], "official_id": "off-77-1"}
        assert (await gw.client.post(path, json=mismatch, headers=gw.headers("federal"))).status_code == 422
        ok = {"name": "x", "role": "official", "regions": ["64"], "official_id": "off-64-1"}
        created = await gw.client.post(path, json=ok, headers=gw.headers("admin64"))
        assert created.status_code == 201, created.text
        assert created.json()["official_id"] == "off-64-1"
        moscow = {"name": "y", "role": "official", "regions": ["77"], "official_id": "off-77-1"}
        assert (await gw.client.post(path, json=moscow, headers=gw.headers("admin77"))).status_code == 201
        # Region refusals come first, as before (403), without asking routing.
        outside = {"name": "z", "role": "official", "regions": ["77"], "official_id": "off-77-1"}
        assert (await gw.client.post(path, json=outside, headers=gw.headers("admin64"))).status_code == 403


def test_officials_may_do_the_same_in_the_gateway_and_in_routing() -> None:
    assert {a.value for a in OFFICIAL_ACTIONS} == {a.value for a in ROUTING_OFFICIAL_ACTIONS}
