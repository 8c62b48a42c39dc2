"""The shared HTTP behaviour every service gets from create_service_app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from incidents_common.app import app_state, create_service_app
from incidents_common.db import Database
from incidents_common.events import Category
from incidents_common.problems import Conflict
from incidents_common.settings import ServiceSettings

# What a service's deps.py declares (incidents_common.app.app_state).
SettingsDep = Annotated[ServiceSettings, Depends(app_state("settings", ServiceSettings))]


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

    async def test_oversized_streamed_body_is_413_not_400(self, tmp_path: Path) -> None:
        """A chunked body declares no length: it is counted as it arrives, and refused with the same
        problem as a declared one (FastAPI's body parsing made it a 400 before)."""

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'", "category": "roads"}'

        async with await _client(_app(tmp_path)) as client:
            response = await client.post("/things", content=chunks(), headers={"Content-Type": "application/json"})
            declared = await client.post("/things", json={"name": "x" * 5000, "category": "roads"})
        assert "content-length" not in response.request.headers
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == declared.json()["type"]
        assert response.json()["type"].endswith("/payload-too-large")
        assert response.json()["detail"] == "the body limit is 1000 bytes"

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
        # a type per status, as the problem classes have (not RFC 9457's generic about:blank)
        assert missing.json()["type"] == "https://incidents.example/problems/not-found"
        assert health.json()["status"] == "ok"


class TestCreateService:
    """One wiring for every service: routers behind the service token or open, the dead-letter API,
    and consumers declared once with the settings' prefix and batch size."""

    def _service(self, tmp_path: Path, **settings: object) -> FastAPI:
        from fastapi import APIRouter

        from incidents_common.app import Consumes, create_service

        internal, public = APIRouter(), APIRouter()

        @internal.get("/v1/internal")
        async def internal_door() -> dict[str, str]:
            return {"door": "internal"}

        @public.get("/v1/public")
        async def public_door() -> dict[str, str]:
            return {"door": "public"}

        async def handle(writes: object, events: object) -> None:
            return None

        values: dict[str, object] = {"service_name": "routing", "nats_enabled": False, "log_json": False}
        values.update(settings)
        return create_service(
            settings=ServiceSettings(**values),  # type: ignore[arg-type]  # test values of mixed types
            db=Database(f"sqlite+aiosqlite:///{tmp_path / 'wired.db'}", []),
            title="wired",
            description="",
            version="0",
            consumes=[Consumes("routing-post-classified", "POSTS", "incidents.v1.post.classified", handle)],
            routers=[internal],
            public_routers=[public],
        )

    async def test_routers_are_protected_or_public_as_declared(self, tmp_path: Path) -> None:
        app = self._service(tmp_path)
        assert {"/v1/internal", "/v1/public", "/v1/admin/dead-letters"} <= set(app.openapi()["paths"])
        async with await _client(app) as client:
            assert (await client.get("/v1/public")).json() == {"door": "public"}
            refused = await client.get("/v1/internal")
            assert refused.status_code == 401
            assert refused.json()["type"] == "https://incidents.example/problems/unauthorized"
            assert (await client.get("/v1/admin/dead-letters")).status_code == 401

    def test_consumers_get_the_prefix_and_the_settings_batch(self, tmp_path: Path) -> None:
        app = self._service(tmp_path, nats_enabled=True, stream_prefix="east-", consumer_batch=123, max_deliver=7)
        (consumer,) = app.state.events.consumers
        spec = consumer.spec
        assert (spec.durable, spec.stream, spec.filter_subject) == (
            "east-routing-post-classified",
            "POSTS",
            "incidents.v1.post.classified",
        )
        assert (spec.batch, spec.max_deliver) == (123, 7)
        assert self._service(tmp_path).state.events is None  # NATS off: no runtime


class TestSharedWiring:
    """The pieces each service's main.py and deps.py take from here."""

    async def test_app_state_hands_a_handler_what_the_app_holds(self, tmp_path: Path) -> None:
        app = _app(tmp_path)

        @app.get("/named")
        async def named(settings: SettingsDep) -> dict[str, str]:
            return {"service": settings.service_name}

        async with await _client(app) as client:
            assert (await client.get("/named")).json() == {"service": "collector"}
        assert "/named" in app.openapi()["paths"] and not app.openapi()["paths"]["/named"]["get"].get("parameters")

    async def test_stop_tasks_cancels_and_waits_for_each(self) -> None:
        import asyncio

        from incidents_common.app import stop_tasks

        started = asyncio.Event()
        cancelled: list[str] = []

        async def background(name: str) -> None:
            try:
                started.set()
                await asyncio.Event().wait()  # runs until cancelled
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        tasks = [asyncio.create_task(background(name)) for name in ("scanner", "watcher")]
        await started.wait()
        await stop_tasks(tasks)
        assert sorted(cancelled) == ["scanner", "watcher"] and tasks == []
