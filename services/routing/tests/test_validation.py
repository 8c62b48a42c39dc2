"""Bad input is a 422 problem+json, never a 500 (issue 10, part 6).

Fuzzing found 500s on PATCH: an explicit null for a field the table cannot hold null was written
as is, and a value the input model accepted failed the response model. Every Update schema is
checked field by field against its table, and input and output models share their limits.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlmodel import SQLModel

from routing.deadlines.models import SlaPolicy
from routing.deadlines.schemas import SlaPolicyCreate, SlaPolicyRead, SlaPolicyUpdate
from routing.directory.models import Department, Official
from routing.directory.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    OfficialCreate,
    OfficialRead,
    OfficialUpdate,
)
from routing.rules.models import Rule
from routing.rules.schemas import RuleCreate, RuleRead, RuleUpdate

# (Update schema, Create, Read, table, the object's path in the small directory)
SCHEMAS: list[tuple[type[BaseModel], type[BaseModel], type[BaseModel], type[SQLModel], str]] = [
    (DepartmentUpdate, DepartmentCreate, DepartmentRead, Department, "/v1/departments/64-roads"),
    (OfficialUpdate, OfficialCreate, OfficialRead, Official, "/v1/officials/roads-a"),
    (RuleUpdate, RuleCreate, RuleRead, Rule, "/v1/rules/{rule}"),
    (SlaPolicyUpdate, SlaPolicyCreate, SlaPolicyRead, SlaPolicy, "/v1/sla-policies/{policy}"),
]
IDS = [s[0].__name__ for s in SCHEMAS]


async def _path(client: httpx.AsyncClient, template: str) -> str:
    rule = (await client.get("/v1/rules", params={"region": "64"})).json()[0]["id"]
    policy = (await client.get("/v1/sla-policies")).json()[0]["id"]
    return template.format(rule=rule, policy=policy)


def _nullable(table: type[SQLModel], field: str) -> bool:
    return bool(table.__table__.c[field].nullable)  # type: ignore[attr-defined]


def _constraints(model: type[BaseModel], field: str) -> dict[str, Any]:
    """A field's JSON schema without null, titles, defaults and descriptions: its limits."""
    schema = model.model_json_schema()
    prop = dict(schema["properties"][field])
    if "anyOf" in prop:
        options = [o for o in prop.pop("anyOf") if o.get("type") != "null"]
        assert len(options) == 1, prop
        prop.update(options[0])
    return {k: v for k, v in prop.items() if k not in ("title", "default", "description", "examples")}


def _assert_problem_422(response: httpx.Response, field: str | None = None) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert ["body", field] in [e["loc"] for e in response.json()["errors"]], response.json()


class TestNulls:
    @pytest.mark.parametrize(("update", "create", "read", "table", "template"), SCHEMAS, ids=IDS)
    async def test_null_only_where_the_table_takes_null(
        self,
        client: httpx.AsyncClient,
        update: type[BaseModel],
        create: type[BaseModel],
        read: type[BaseModel],
        table: type[SQLModel],
        template: str,
    ) -> None:
        path = await _path(client, template)
        before = (await client.get(path)).json() if not path.startswith("/v1/sla") else None
        for field in update.model_fields:
            response = await client.patch(path, json={field: None})
            if _nullable(table, field):
                assert response.status_code == 200, (field, response.text)
                assert response.json()[field] is None
            else:
                _assert_problem_422(response, field)
        if before is not None:  # the refused nulls wrote nothing
            after = (await client.get(path)).json()
            for field in update.model_fields:
                if not _nullable(table, field):
                    assert after[field] == before[field], field

    async def test_the_named_fuzzing_cases(self, client: httpx.AsyncClient) -> None:
        rule = await _path(client, "/v1/rules/{rule}")
        policy = await _path(client, "/v1/sla-policies/{policy}")
        for path, body in (
            ("/v1/departments/64-roads", {"active": None}),
            ("/v1/officials/roads-a", {"active": None}),
            ("/v1/officials/roads-a", {"work_start": None}),
            (rule, {"active": None}),
            (policy, {"final_days": None}),
        ):
            _assert_problem_422(await client.patch(path, json=body), next(iter(body)))


class TestLimits:
    async def test_what_is_accepted_can_be_returned(self, client: httpx.AsyncClient) -> None:
        policy = await _path(client, "/v1/sla-policies/{policy}")
        _assert_problem_422(await client.patch(policy, json={"first_reaction_hours": 721}), "first_reaction_hours")
        edge = await client.patch(policy, json={"first_reaction_hours": 720, "interim_days": 365, "final_days": 365})
        assert edge.status_code == 200 and edge.json()["first_reaction_hours"] == 720
        not_a_number = await client.patch(
            policy, content=b'{"final_days": NaN}', headers={"content-type": "application/json"}
        )
        assert not_a_number.status_code in (400, 422)
        rule = await _path(client, "/v1/rules/{rule}")
        for path, body in (
            (rule, {"priority": 10**12}),
            (rule, {"department_id": ""}),
            (rule, {"category": "x" * 51}),
            (rule, {"category": "unicorns"}),  # no such category: no post would ever meet the rule
            (rule, {"description": "x" * 501}),
            ("/v1/officials/roads-a", {"capacity": 10**12}),
            ("/v1/officials/roads-a", {"capacity": -1}),
            ("/v1/officials/roads-a", {"work_days": []}),
            ("/v1/officials/roads-a", {"work_days": [0, 8]}),
            ("/v1/officials/roads-a", {"work_start": "25:00"}),
            ("/v1/officials/roads-a", {"timezone": "Mars/Olympus"}),
            ("/v1/officials/roads-a", {"email": "x" * 201}),
            ("/v1/officials/roads-a", {"position": "x" * 501}),
            ("/v1/officials/roads-a", {"categories": ["x" * 51]}),
            ("/v1/officials/roads-a", {"categories": ["roads", "unicorns"]}),
            ("/v1/officials/roads-a", {"region_code": "77"}),  # the region never changes
            ("/v1/departments/64-roads", {"municipality": "x" * 201}),
            ("/v1/departments/64-roads", {"phone": "1" * 51}),
            ("/v1/departments/64-roads", {"name": ""}),
        ):
            _assert_problem_422(await client.patch(path, json=body))
        days = await client.patch("/v1/officials/roads-a", json={"work_days": [5, 1, 1, 3]})
        assert days.json()["work_days"] == [1, 3, 5]
        order = await client.patch("/v1/officials/roads-a", json={"work_start": "19:00"})
        assert order.status_code == 400 and order.json()["type"].endswith("/bad-directory-data")

    async def test_out_of_range_ids_and_pages_are_422(self, client: httpx.AsyncClient) -> None:
        for path in ("/v1/rules/99999999999999", "/v1/rules/0", "/v1/incidents?offset=99999999999999999999"):
            _assert_problem_422(await client.get(path))
        _assert_problem_422(await client.patch("/v1/sla-policies/99999999999999", json={}))
        assert (
            await client.post("/v1/departments", json={"id": "..", "region_code": "64", "name": "x"})
        ).status_code == 422

    @pytest.mark.parametrize(("update", "create", "read", "table", "template"), SCHEMAS, ids=IDS)
    def test_create_update_and_read_share_their_limits(
        self,
        update: type[BaseModel],
        create: type[BaseModel],
        read: type[BaseModel],
        table: type[SQLModel],
        template: str,
    ) -> None:
        for field in update.model_fields:
            assert field in table.__table__.c, field  # type: ignore[attr-defined]
            limits = _constraints(update, field)
            assert limits == _constraints(create, field) == _constraints(read, field), field
