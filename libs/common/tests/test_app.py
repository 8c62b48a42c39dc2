"""The shared HTTP behaviour every service gets from create_service_app."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.events import Category
from incidents_common.problems import Conflict
from incidents_common.settings import ServiceSettings


class Thing(BaseModel):
    name: str
    category: Category


def _app(tmp_path: Path) -> FastAPI:
    settings = ServiceSettings(service_name="collector", nats_enabled=False, max_body_bytes=1000, log_json=False)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", [])
    app = create_service_app(title="probe", description="", version="0", settings=settings, db=db, events=None)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        if thing.name == "taken":
            raise Conflict("a thing with that name exists", name=thing.name)
        return thing

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class TestProblemJson:
    async def test_malformed_json_is_400_problem(self, tmp_path: Path) -> None:
        async with await _client(_app(tmp_path)) as client:
            response = await client.post("/things", content=b'{"name": ', headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Malformed JSON"

    async def test_unknown_enum_and_missing_field_are_422_with_field_errors(self, tmp_path: Path) -> None:
        async with await _client(_app(tmp_path)) as client:
            response = await client.post("/things", json={"category": "weather"})
        body = response.json()
        assert response.status_code == 422
        assert body["status"] == 422
        locations = {tuple(error["loc"]) for error in body["errors"]}
        assert ("body", "name") in locations
        assert ("body", "category") in locations

    async def test_oversized_body_is_413(self, tmp_path: Path) -> None:
        async with await _client(_app(tmp_path)) as client:
            response = await client.post("/things", json={"name": "x" * 5000, "category": "roads"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"

    async def test_domain_error_carries_status_type_and_extensions(self, tmp_path: Path) -> None:
        async with await _client(_app(tmp_path)) as client:
            response = await client.post("/things", json={"name": "taken", "category": "roads"})
        body = response.json()
        assert response.status_code == 409
        assert body["type"].endswith("/conflict")
        assert body["detail"] == "a thing with that name exists"
        assert body["name"] == "taken"
        assert body["instance"] == "/things"

    async def test_unknown_route_is_404_problem_and_health_answers(self, tmp_path: Path) -> None:
        app = _app(tmp_path)
        async with app.router.lifespan_context(app), await _client(app) as client:
            missing = await client.get("/nope")
            health = await client.get("/health")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert health.json()["status"] == "ok"
