"""Directory, rules and SLA policy management over HTTP; bulk import (YAML, CSV, CLI); the demo seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from incidents_common.testing import ServiceAuth
from routing.config import Settings
from routing.main import create_app

DEMO_REGIONS = {"64", "63", "77", "78", "50", "66", "16", "54", "02", "23", "52"}


class TestDepartmentsAndOfficials:
    async def test_crud_and_deactivate(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/v1/departments",
            json={"id": "64-eco", "region_code": "64", "name": "министерство природных ресурсов и экологии"},
        )
        assert created.status_code == 201 and created.json()["region_name"] == "Саратовская область"
        assert (
            await client.post("/v1/departments", json={"id": "64-eco", "region_code": "64", "name": "x"})
        ).status_code == 409
        departments = (await client.get("/v1/departments", params={"region": "64"})).json()
        assert "64-eco" in {d["id"] for d in departments} and all(d["region_code"] == "64" for d in departments)

        official = await client.post(
            "/v1/officials",
            json={
                "id": "eco-1",
                "region_code": "64",
                "department_id": "64-eco",
                "name": "Орлова Мария Ивановна",
                "position": "главный специалист",
                "categories": ["ecology"],
                "work_start": "08:00",
                "work_end": "17:00",
                "timezone": "Europe/Saratov",
                "capacity": 10,
            },
        )
        assert official.status_code == 201, official.text
        assert official.json()["effective_timezone"] == "Europe/Saratov"
        patched = await client.patch("/v1/officials/eco-1", json={"on_leave": True, "capacity": 5})
        assert patched.json()["on_leave"] is True and patched.json()["capacity"] == 5
        deactivated = await client.patch("/v1/officials/eco-1", json={"active": False})
        assert deactivated.json()["active"] is False
        listed = {o["id"]: o for o in (await client.get("/v1/officials", params={"region": "64"})).json()}
        assert listed["eco-1"]["active"] is False and "open_incidents" in listed["roads-a"]
        assert (await client.delete("/v1/departments/64-eco")).json()["active"] is False

    async def test_invalid_directory_data(self, client: httpx.AsyncClient) -> None:
        for body in (
            {"region_code": "99", "name": "x"},
            {"region_code": "64", "name": "x", "timezone": "Mars/Olympus"},
            {"region_code": "64", "name": "x", "work_start": "18:00", "work_end": "09:00"},
            {"region_code": "64", "name": "x", "role": "tsar"},
        ):
            response = await client.post("/v1/officials", json=body)
            assert response.status_code == 422, body
        wrong_region = await client.post(
            "/v1/officials", json={"region_code": "63", "name": "x", "department_id": "64-roads"}
        )
        assert wrong_region.status_code == 404  # another region's department is unknown in region 63
        assert (await client.patch("/v1/officials/ghost", json={"active": False})).status_code == 404
        assert (await client.get("/v1/departments", params={"region": "Саратов"})).status_code == 422


class TestRulesAndPolicies:
    async def test_rules_and_preview(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/v1/rules",
            json={
                "priority": 2,
                "region_code": "64",
                "category": "roads",
                "urgency": "critical",
                "department_id": "64-gzhi",
            },
        )
        assert created.status_code == 201 and created.json()["department_name"].startswith("государственная")
        rules = (await client.get("/v1/rules", params={"region": "64"})).json()
        assert [r["priority"] for r in rules] == sorted(r["priority"] for r in rules)
        preview = (
            await client.get(
                "/v1/rules/preview/assignment", params={"region": "64", "category": "roads", "urgency": "critical"}
            )
        ).json()
        assert preview["official_id"] == "gzhi-a" and preview["rule_id"] == created.json()["id"]
        assert (await client.delete(f"/v1/rules/{created.json()['id']}")).json()["active"] is False
        assert (await client.post("/v1/rules", json={"department_id": "ghost"})).status_code == 404
        assert (await client.post("/v1/rules", json={"department_id": "64-gzhi", "urgency": "meh"})).status_code == 422

    async def test_sla_policies(self, client: httpx.AsyncClient) -> None:
        created = await client.post(
            "/v1/sla-policies", json={"region_code": "64", "category": "roads", "first_reaction_hours": 3}
        )
        assert created.status_code == 201
        policy_id = created.json()["id"]
        updated = await client.patch(f"/v1/sla-policies/{policy_id}", json={"final_days": 5})
        assert updated.json()["final_days"] == 5
        assert any(p["id"] == policy_id for p in (await client.get("/v1/sla-policies", params={"region": "64"})).json())
        assert (await client.delete(f"/v1/sla-policies/{policy_id}")).status_code == 204
        assert (await client.delete(f"/v1/sla-policies/{policy_id}")).status_code == 404
        assert (await client.post("/v1/sla-policies", json={"first_reaction_hours": -1})).status_code == 422


HEALTH_NSK = "54,54-health,министерство здравоохранения Новосибирской области"
CSV = "\n".join(
    [
        "region_code,department_id,department_name,official_id,name,position,categories,municipalities,work_hours,capacity",
        f"{HEALTH_NSK},nsk-1,Волков Пётр Ильич,начальник отдела,healthcare,,09:00-18:00,20",
        f"{HEALTH_NSK},nsk-2,Зайцева Анна Олеговна,консультант,healthcare;social_support,Новосибирск,08:00-17:00,15",
    ]
)


class TestImport:
    async def test_yaml_and_csv_upload(self, client: httpx.AsyncClient, small_directory: dict[str, Any]) -> None:
        document = {
            "departments": [{"id": "66-roads", "region_code": "66", "name": "министерство транспорта"}],
            "officials": [
                {
                    "id": "ekb-1",
                    "region_code": "66",
                    "department_id": "66-roads",
                    "name": "Лебедев И. И.",
                    "work_hours": "10:00-19:00",
                    "categories": ["roads"],
                }
            ],
            "rules": [{"priority": 1, "region_code": "66", "category": "roads", "department_id": "66-roads"}],
        }
        response = await client.post(
            "/v1/directory/import", files={"file": ("dir.yaml", yaml.safe_dump(document, allow_unicode=True).encode())}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"departments": 1, "officials": 1, "rules": 1, "sla_policies": 0, "errors": []}
        official = (await client.get("/v1/officials/ekb-1")).json()
        assert (official["work_start"], official["work_end"], official["effective_timezone"]) == (
            "10:00",
            "19:00",
            "Asia/Yekaterinburg",
        )
        again = await client.post(
            "/v1/directory/import", files={"file": ("dir.yml", yaml.safe_dump(document, allow_unicode=True).encode())}
        )
        assert again.status_code == 200  # an upsert: importing twice changes nothing
        assert len((await client.get("/v1/rules", params={"region": "66"})).json()) == 1

        csv_response = await client.post("/v1/directory/import", files={"file": ("officials.csv", CSV.encode())})
        assert csv_response.json()["officials"] == 2 and csv_response.json()["departments"] == 1
        nsk = (await client.get("/v1/officials/nsk-2")).json()
        assert nsk["categories"] == ["healthcare", "social_support"] and nsk["municipalities"] == ["Новосибирск"]

    async def test_bad_files_are_rejected_whole(self, client: httpx.AsyncClient) -> None:
        bad_rows = (
            "departments:\n  - {id: x1, region_code: '64', name: ok}\n  - {id: x2, region_code: '99', name: bad}\n"
        )
        response = await client.post("/v1/directory/import", files={"file": ("d.yaml", bad_rows.encode())})
        assert response.status_code == 400 and response.json()["type"].endswith("/bad-import")
        assert "departments[1]" in response.json()["errors"][0]
        assert (await client.get("/v1/departments/x1")).status_code == 404  # all or nothing
        for name, content in (
            ("d.yaml", b"- just a list"),
            ("d.txt", b"x"),
            ("d.csv", b"a,b\n1,2\n"),
            ("d.yaml", b"\xff"),
        ):
            assert (await client.post("/v1/directory/import", files={"file": (name, content)})).status_code == 400

    def test_cli_import(self, tmp_path: Path) -> None:
        path = tmp_path / "officials.csv"
        path.write_text(CSV, encoding="utf-8")
        url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        done = subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "routing", "--database-url", url, "import-directory", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert '"officials":2' in done.stdout
        missing = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "routing", "--database-url", url, "import-directory", str(tmp_path / "nope.yaml")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert missing.returncode == 2 and "no such file" in missing.stderr


class TestDemoSeed:
    async def test_demo_directory_is_loaded_when_empty_and_assigns(self, settings: Settings) -> None:
        app = create_app(settings.model_copy(update={"seed_demo": True}))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", auth=ServiceAuth("routing")
            ) as http:
                officials = (await http.get("/v1/officials")).json()
                regions = {o["region_code"] for o in officials}
                assert DEMO_REGIONS <= regions
                for region in DEMO_REGIONS:
                    roles = {o["role"] for o in officials if o["region_code"] == region}
                    assert {"curator", "deputy_governor", "governor_office", "official"} <= roles, region
                for region in sorted(DEMO_REGIONS):
                    for category in ("roads", "healthcare", "housing_utilities", "education", "waste"):
                        preview = (
                            await http.get(
                                "/v1/rules/preview/assignment", params={"region": region, "category": category}
                            )
                        ).json()
                        assert preview["rule_id"] is not None, (region, category, preview)
                        assert not preview["federal_fallback"]
                saratov = (
                    await http.get(
                        "/v1/rules/preview/assignment", params={"region": "64", "category": "roads", "city": "Саратов"}
                    )
                ).json()
                assert "администрация города Саратова" in saratov["explanation"]
        again = create_app(settings.model_copy(update={"seed_demo": True}))
        async with again.router.lifespan_context(again):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=again), base_url="http://t", auth=ServiceAuth("routing")
            ) as http:
                assert len((await http.get("/v1/officials")).json()) == len(officials)  # not loaded twice
