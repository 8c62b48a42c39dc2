"""Who may do what (issue 10): region ownership and roles enforced by routing itself.

The operator's client (`client`) seeds two regions: the small Saratov directory (64) and a Moscow
one (77). Users are signed exactly as the gateway signs them: a token of `api-gateway` naming the
user it acts for.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from incidents_common.db import writes_of
from incidents_common.identity import ActingUser
from routing.deadlines.service import list_policies
from routing.directory.service import import_directory, list_departments, list_officials
from routing.incidents.queries import list_incidents
from routing.incidents.writes import route_posts
from routing.rules.service import list_rules

from .conftest import Users

MOSCOW: dict[str, Any] = {
    "departments": [
        {"id": "77-roads", "region_code": "77", "name": "Департамент транспорта и дорог Москвы"},
        {"id": "77-gov", "region_code": "77", "name": "Аппарат мэра Москвы", "kind": "administration"},
    ],
    "officials": [
        {"id": "77-roads-1", "region_code": "77", "department_id": "77-roads", "name": "Москвин М. М."},
        {"id": "77-curator", "region_code": "77", "department_id": "77-gov", "name": "Куратор М.", "role": "curator"},
    ],
    "rules": [{"priority": 10, "region_code": "77", "category": "roads", "department_id": "77-roads"}],
    "sla_policies": [
        {"region_code": "77", "first_reaction_hours": 6, "interim_days": 5, "final_days": 8},
        {"region_code": "64", "category": "roads", "first_reaction_hours": 5, "interim_days": 5, "final_days": 8},
    ],
}

ADMIN64 = ActingUser("key:admin64", "regional_admin", frozenset({"64"}))
ADMIN77 = ActingUser("key:admin77", "regional_admin", frozenset({"77"}))
FEDERAL = ActingUser("key:federal", "federal", None)
INTEGRATION64 = ActingUser("key:integration64", "integration", frozenset({"64"}))


@pytest.fixture
async def world(client: httpx.AsyncClient, make_post: Any) -> dict[str, str]:
    """Moscow beside Saratov, and one incident in each (plus a Saratov healthcare one)."""
    app = client.app  # type: ignore[attr-defined]
    async with app.state.db.transaction() as session:
        await import_directory(session, document=MOSCOW)
    ids: dict[str, str] = {}
    for name, post in (
        ("roads64", make_post("p64", "Огромная яма на дороге у остановки")),
        ("health64", make_post("h64", "В поликлинике нет записи к врачу", category="healthcare")),
        ("roads77", make_post("p77", "Яма на Тверской улице", region="77", city="Москва")),
    ):
        async with app.state.db.transaction() as session:
            (incident,) = await route_posts(writes_of(session), [post], settings=app.state.settings)
        assert incident is not None
        ids[name] = incident.id
    detail = (await client.get(f"/v1/incidents/{ids['roads64']}")).json()
    ids["roads64_assignee"] = detail["assignee"]["official_id"]
    rules = (await client.get("/v1/rules")).json()
    ids["rule77"] = str(next(r["id"] for r in rules if r["region_code"] == "77"))
    ids["rule64"] = str(next(r["id"] for r in rules if r["region_code"] == "64"))
    policies = (await client.get("/v1/sla-policies")).json()
    ids["policy77"] = str(next(p["id"] for p in policies if p["region_code"] == "77"))
    ids["policy64"] = str(next(p["id"] for p in policies if p["region_code"] == "64"))
    ids["policy_global"] = str(next(p["id"] for p in policies if p["region_code"] is None))
    return ids


def official(official_id: str) -> ActingUser:
    return ActingUser(f"key:{official_id}", "official", frozenset({"64"}), official_id=official_id)


def _same_not_found(foreign: httpx.Response, missing: httpx.Response) -> None:
    """Another region's object answers exactly like a missing one: same status, type and title."""
    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert foreign.headers["content-type"].startswith("application/problem+json")
    a, b = foreign.json(), missing.json()
    assert (a["type"], a["title"]) == (b["type"], b["title"])
    assert "region 77" not in a.get("detail", "")  # nothing about where it lives


class TestCallers:
    async def test_the_gateway_must_say_for_whom_it_acts(self, world: dict[str, str], users: Users) -> None:
        anonymous = users(None)
        for method, path in (
            ("GET", "/v1/departments"),
            ("GET", "/v1/officials/roads-a"),
            ("GET", "/v1/rules"),
            ("GET", "/v1/sla-policies"),
            ("GET", "/v1/incidents"),
            ("GET", f"/v1/incidents/{world['roads64']}"),
            ("GET", "/v1/rules/preview/assignment?region=64&category=roads"),
            ("POST", "/v1/deadlines/scan"),
            ("PATCH", "/v1/officials/roads-a"),
        ):
            response = await anonymous.request(method, path, json={} if method == "PATCH" else None)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["detail"] == "api-gateway must name the user it acts for"

    async def test_without_a_token_nothing_is_served(self, client: httpx.AsyncClient) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=client.app), base_url="http://t") as http:  # type: ignore[attr-defined]
            assert (await http.get("/v1/departments")).status_code == 401


class TestReads:
    @pytest.mark.parametrize("kind", ["departments", "officials", "rules", "sla-policies"])
    async def test_lists_hold_only_the_users_regions(
        self, kind: str, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        everything = (await client.get(f"/v1/{kind}")).json()
        assert {"64", "77"} <= {i["region_code"] for i in everything}
        admin = users(ADMIN64)
        mine = (await admin.get(f"/v1/{kind}")).json()
        assert mine and {i["region_code"] for i in mine} <= {"64", None}
        allowed_global = kind == "sla-policies"  # global policies apply to every region: visible to all
        assert (None in {i["region_code"] for i in mine}) is allowed_global
        assert (await admin.get(f"/v1/{kind}", params={"region": "77"})).json() == []
        own = (await admin.get(f"/v1/{kind}", params={"region": "64"})).json()
        assert own and {i["region_code"] for i in own} <= {"64", None}
        federal = (await users(FEDERAL).get(f"/v1/{kind}")).json()
        assert len(federal) == len(everything)

    async def test_another_regions_object_is_a_404_like_a_missing_one(
        self, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)
        for foreign, missing in (
            ("/v1/departments/77-roads", "/v1/departments/ghost"),
            ("/v1/officials/77-roads-1", "/v1/officials/ghost"),
            (f"/v1/rules/{world['rule77']}", "/v1/rules/999999"),
            (f"/v1/incidents/{world['roads77']}", "/v1/incidents/ghost"),
        ):
            _same_not_found(await admin.get(foreign), await admin.get(missing))
        for path in ("/v1/departments/77-roads", "/v1/officials/77-roads-1", f"/v1/incidents/{world['roads77']}"):
            assert (await users(FEDERAL).get(path)).status_code == 200
            assert (await users(ADMIN77).get(path)).status_code == 200
        own = await admin.get(f"/v1/incidents/{world['roads64']}")
        assert own.status_code == 200 and own.json()["region_code"] == "64"
        preview = await admin.get("/v1/rules/preview/assignment", params={"region": "77", "category": "roads"})
        assert preview.status_code == 404

    async def test_incident_lists_are_scoped(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        assert (await client.get("/v1/incidents")).json()["total"] == 3
        admin = users(ADMIN64)
        page = (await admin.get("/v1/incidents")).json()
        assert page["total"] == 2 and {i["region_code"] for i in page["items"]} == {"64"}
        assert (await admin.get("/v1/incidents", params={"region": "77"})).json() == {
            "items": [],
            "total": 0,
            "limit": 50,
            "offset": 0,
        }
        by_assignee = (await admin.get("/v1/incidents", params={"assignee": "77-roads-1"})).json()
        assert by_assignee["total"] == 0
        assert (await users(INTEGRATION64).get("/v1/incidents")).json()["total"] == 2
        assert (await users(FEDERAL).get("/v1/incidents")).json()["total"] == 3


DEPARTMENT_64 = {"region_code": "64", "name": "комитет по ветеринарии"}


class TestDirectoryWrites:
    @pytest.mark.parametrize(
        "user", [FEDERAL, INTEGRATION64, official("roads-a")], ids=["federal", "integration", "official"]
    )
    async def test_only_the_operator_and_regional_admins_write(
        self, user: ActingUser, world: dict[str, str], users: Users
    ) -> None:
        http = users(user)
        for method, path, body in (
            ("POST", "/v1/departments", DEPARTMENT_64),
            ("PATCH", "/v1/departments/64-roads", {"name": "x"}),
            ("DELETE", "/v1/departments/64-roads", None),
            ("POST", "/v1/officials", {"region_code": "64", "name": "x"}),
            ("PATCH", "/v1/officials/roads-a", {"active": False}),
            ("DELETE", "/v1/officials/roads-a", None),
            ("POST", "/v1/rules", {"region_code": "64", "department_id": "64-roads"}),
            ("PATCH", f"/v1/rules/{world['rule64']}", {"priority": 1}),
            ("DELETE", f"/v1/rules/{world['rule64']}", None),
            ("POST", "/v1/sla-policies", {"region_code": "64", "first_reaction_hours": 2}),
            ("PATCH", f"/v1/sla-policies/{world['policy64']}", {"final_days": 2}),
            ("DELETE", f"/v1/sla-policies/{world['policy64']}", None),
        ):
            response = await http.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
        imported = await http.post("/v1/directory/import", files={"file": ("d.yaml", b"departments: []\n")})
        assert imported.status_code == 403

    async def test_a_regional_admin_writes_only_in_its_regions(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)
        created = await admin.post("/v1/departments", json={**DEPARTMENT_64, "id": "64-vet"})
        assert created.status_code == 201, created.text
        assert (await admin.post("/v1/departments", json={"region_code": "77", "name": "x"})).status_code == 403
        assert (await admin.post("/v1/officials", json={"region_code": "77", "name": "x"})).status_code == 403
        vet = await admin.post("/v1/officials", json={"region_code": "64", "name": "Орлова", "department_id": "64-vet"})
        assert vet.status_code == 201, vet.text
        assert (await admin.patch("/v1/officials/roads-a", json={"on_leave": True})).json()["on_leave"] is True
        for path in ("/v1/officials/77-roads-1", "/v1/departments/77-roads"):
            _same_not_found(await admin.patch(path, json={"active": False}), await admin.patch(path + "x", json={}))
            assert (await admin.delete(path)).status_code == 404
        assert (await client.get("/v1/officials/77-roads-1")).json()["active"] is True
        assert (await client.get("/v1/departments/77-roads")).json()["active"] is True

    async def test_references_never_cross_regions(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)
        for http in (admin, client):  # the operator too: a reference stays in its region
            foreign_department = await http.post(
                "/v1/officials", json={"region_code": "64", "name": "x", "department_id": "77-roads"}
            )
            assert foreign_department.status_code == 404, foreign_department.text
            moved = await http.patch("/v1/officials/roads-a", json={"department_id": "77-roads"})
            assert moved.status_code == 404
            rule = await http.post("/v1/rules", json={"region_code": "64", "department_id": "77-roads"})
            assert rule.status_code == 404
            rule_patch = await http.patch(f"/v1/rules/{world['rule64']}", json={"department_id": "77-roads"})
            assert rule_patch.status_code == 404
        # A rule without a region takes its department's; another region's department is unknown.
        assert (await admin.post("/v1/rules", json={"department_id": "77-roads"})).status_code == 404
        assert (
            await admin.post("/v1/rules", json={"region_code": "77", "department_id": "77-roads"})
        ).status_code == 403
        own = await admin.post("/v1/rules", json={"department_id": "64-health", "category": "ecology"})
        assert own.status_code == 201 and own.json()["region_code"] == "64"
        _same_not_found(
            await admin.patch(f"/v1/rules/{world['rule77']}", json={"active": False}),
            await admin.patch("/v1/rules/999999", json={"active": False}),
        )
        assert (await client.get("/v1/officials/roads-a")).json()["department_id"] == "64-roads"

    async def test_ids_are_unique_across_regions(self, world: dict[str, str], users: Users) -> None:
        admin = users(ADMIN64)
        taken = await admin.post("/v1/departments", json={**DEPARTMENT_64, "id": "77-roads"})
        assert taken.status_code == 409 and taken.json()["type"].endswith("/already-exists")
        taken = await admin.post("/v1/officials", json={"region_code": "64", "name": "x", "id": "77-roads-1"})
        assert taken.status_code == 409

    async def test_a_department_named_like_a_moscow_official_gives_no_hold_on_it(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        """The attack of issue 10, against routing alone (the gateway version is in the gateway's tests)."""
        admin = users(ADMIN64)
        department = await admin.post("/v1/departments", json={**DEPARTMENT_64, "id": "77-roads-1"})
        assert department.status_code == 201
        planted = await admin.post(
            "/v1/officials", json={"region_code": "64", "name": "Подставной", "department_id": "77-roads-1"}
        )
        assert planted.status_code == 201
        attack = await admin.patch("/v1/officials/77-roads-1", json={"active": False, "email": "x@example.org"})
        assert attack.status_code == 404
        victim = (await client.get("/v1/officials/77-roads-1")).json()
        assert victim["active"] is True and victim["email"] is None and victim["region_code"] == "77"

    async def test_imports_are_limited_to_the_admins_regions(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)

        async def upload(http: httpx.AsyncClient, document: dict[str, Any]) -> httpx.Response:
            content = yaml.safe_dump(document, allow_unicode=True).encode()
            return await http.post("/v1/directory/import", files={"file": ("d.yaml", content)})

        foreign = await upload(admin, {"departments": [{"id": "77-x", "region_code": "77", "name": "x"}]})
        assert foreign.status_code == 403 and "departments[0]: region 77" in foreign.json()["errors"][0]
        global_policy = await upload(admin, {"sla_policies": [{"first_reaction_hours": 1}]})
        assert global_policy.status_code == 403
        foreign_rule = await upload(admin, {"rules": [{"category": "roads", "department_id": "77-roads"}]})
        assert foreign_rule.status_code == 400 and "unknown department" in foreign_rule.json()["errors"][0]
        for http in (admin, client):
            takeover = await upload(http, {"departments": [{"id": "77-roads", "region_code": "64", "name": "мой"}]})
            assert takeover.status_code == 400
            assert "already used in another region" in takeover.json()["errors"][0]
        moved = await upload(client, {"officials": [{"id": "77-roads-1", "region_code": "64", "name": "x"}]})
        assert moved.status_code == 400
        ok = await upload(
            admin,
            {
                "departments": [{"id": "64-vet", "region_code": "64", "name": "ветеринария"}],
                "officials": [{"id": "vet-1", "region_code": "64", "department_id": "64-vet", "name": "Ветров"}],
                "rules": [{"category": "stray_animals", "department_id": "64-vet"}],
                "sla_policies": [{"region_code": "64", "category": "stray_animals", "first_reaction_hours": 2}],
            },
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"departments": 1, "officials": 1, "rules": 1, "sla_policies": 1, "errors": []}
        department = (await client.get("/v1/departments/77-roads")).json()
        assert department["region_code"] == "77" and department["name"].startswith("Департамент")


class TestSlaPolicies:
    async def test_regional_admins_manage_their_regions_policies_and_the_operator_the_global_ones(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)
        created = await admin.post("/v1/sla-policies", json={"region_code": "64", "urgency": "high", "final_days": 3})
        assert created.status_code == 201
        assert (await admin.post("/v1/sla-policies", json={"first_reaction_hours": 1})).status_code == 403
        assert (await admin.post("/v1/sla-policies", json={"region_code": "77"})).status_code == 403
        updated = await admin.patch(f"/v1/sla-policies/{world['policy64']}", json={"final_days": 6})
        assert updated.status_code == 200 and updated.json()["final_days"] == 6
        global_policy = await admin.patch(f"/v1/sla-policies/{world['policy_global']}", json={"final_days": 1})
        assert global_policy.status_code == 403
        assert (await admin.delete(f"/v1/sla-policies/{world['policy_global']}")).status_code == 403
        _same_not_found(
            await admin.patch(f"/v1/sla-policies/{world['policy77']}", json={"final_days": 1}),
            await admin.patch("/v1/sla-policies/999999", json={"final_days": 1}),
        )
        assert (await admin.delete(f"/v1/sla-policies/{world['policy77']}")).status_code == 404
        assert (await admin.delete(f"/v1/sla-policies/{created.json()['id']}")).status_code == 204
        by_operator = await client.patch(f"/v1/sla-policies/{world['policy_global']}", json={"final_days": 9})
        assert by_operator.status_code == 200
        policies = {p["id"]: p for p in (await client.get("/v1/sla-policies")).json()}
        assert policies[int(world["policy77"])]["final_days"] == 8

    async def test_only_the_operator_runs_the_scan(self, client: httpx.AsyncClient, users: Users) -> None:
        for user in (ADMIN64, FEDERAL, INTEGRATION64):
            assert (await users(user).post("/v1/deadlines/scan")).status_code == 403
        assert (await client.post("/v1/deadlines/scan")).status_code == 200


class TestIncidentActions:
    async def test_an_official_acts_on_its_own_incidents_with_the_official_actions(
        self, world: dict[str, str], users: Users
    ) -> None:
        me = world["roads64_assignee"]
        http = users(official(me))
        taken = await http.post(f"/v1/incidents/{world['roads64']}/actions", json={"action": "take"})
        assert taken.status_code == 200, taken.text
        assert taken.json()["history"][-1]["actor"] == me  # the token's official, not a body field
        for action in ({"action": "reassign", "official_id": "roads-b"}, {"action": "reject", "reason": "x"}):
            refused = await http.post(f"/v1/incidents/{world['roads64']}/actions", json=action)
            assert refused.status_code == 403, action
        not_mine = await http.post(f"/v1/incidents/{world['health64']}/actions", json={"action": "take"})
        assert not_mine.status_code == 403
        assert "assigned to them" in not_mine.json()["detail"]
        foreign = await http.post(f"/v1/incidents/{world['roads77']}/actions", json={"action": "take"})
        assert foreign.status_code == 404
        nobody = ActingUser("key:x", "official", frozenset({"64"}), official_id=None)
        assert (
            await users(nobody).post(
                f"/v1/incidents/{world['roads64']}/actions", json={"action": "reply", "reply_text": "x"}
            )
        ).status_code == 403

    async def test_federal_and_integration_users_do_not_act(self, world: dict[str, str], users: Users) -> None:
        for user in (FEDERAL, INTEGRATION64):
            response = await users(user).post(f"/v1/incidents/{world['roads64']}/actions", json={"action": "take"})
            assert response.status_code == 403

    async def test_a_regional_admin_acts_in_its_regions_only_and_never_across(
        self, client: httpx.AsyncClient, world: dict[str, str], users: Users
    ) -> None:
        admin = users(ADMIN64)
        path = f"/v1/incidents/{world['roads64']}/actions"
        _same_not_found(
            await admin.post(f"/v1/incidents/{world['roads77']}/actions", json={"action": "take"}),
            await admin.post("/v1/incidents/ghost/actions", json={"action": "take"}),
        )
        across = await admin.post(path, json={"action": "reassign", "official_id": "77-roads-1"})
        _same_not_found(across, await admin.post(path, json={"action": "reassign", "official_id": "ghost"}))
        redirect = {"action": "redirect", "reason": "не наше", "target_department_id": "77-roads"}
        assert (await admin.post(path, json=redirect)).status_code == 404
        operator_across = await client.post(path, json={"action": "reassign", "official_id": "77-roads-1"})
        assert operator_across.status_code == 404  # nobody hands a complaint to another region
        assert (await client.get(f"/v1/incidents/{world['roads64']}")).json()["assignee"]["official_id"] == world[
            "roads64_assignee"
        ]
        moved = await admin.post(path, json={"action": "reassign", "official_id": "health-a"})
        assert moved.status_code == 200 and moved.json()["assignee"]["official_id"] == "health-a"
        assert moved.json()["history"][-1]["actor"] == "key:admin64"
        with_actor = await admin.post(path, json={"action": "take", "actor": "somebody-else"})
        assert with_actor.status_code == 422
        assert (await users(ADMIN77).post(path, json={"action": "take"})).status_code == 404


class TestScopedQueries:
    async def test_region_filters_on_sqlite_and_postgresql(self, any_db: Any) -> None:
        """The scoped queries (IN, IS NULL, empty region sets) behave alike on both databases."""

        async with any_db.transaction() as session:
            await import_directory(session, document=MOSCOW)
        async with any_db.transaction() as session:
            for regions, expected in (
                (frozenset({"64"}), {"64"}),
                (frozenset({"64", "77"}), {"64", "77"}),
                (None, {"64", "77"}),
            ):
                assert {d.region_code for d in await list_departments(session, regions=regions)} == expected
                assert {o.region_code for o in await list_officials(session, regions=regions)} == expected
                assert {r.region_code for r in await list_rules(session, regions=regions)} == expected
                policies = {p.region_code for p in await list_policies(session, regions=regions)}
                assert policies == expected | {None}
            assert await list_departments(session, regions=frozenset()) == []
            assert await list_rules(session, region="77", regions=frozenset({"64"})) == []
            assert {p.region_code for p in await list_policies(session, region="64", regions=frozenset({"64"}))} == {
                "64",
                None,
            }
            page = await list_incidents(
                session, region=None, category=None, status=None, assignee=None, limit=10, offset=0, regions=frozenset()
            )
            assert page.total == 0
