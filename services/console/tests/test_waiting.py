"""The «Ждут решения» page over a real gateway and a real routing: a complaint no region was found
for is shown to the federal level, placed in a region from the form, and leaves the list."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from api_gateway.testing import gateway_settings, running, serve
from console.config import Settings
from console.main import create_app
from incidents_common.db import OutboxMessage, writes_of
from incidents_common.events import ClassificationCorrected, PlaceHints, decode_event
from incidents_common.testing import post_classified
from routing.config import Settings as RoutingSettings
from routing.directory.service import import_directory
from routing.incidents.writes import route_posts
from routing.main import create_app as create_routing

from .conftest import Console

DIRECTORY = {
    "departments": [{"id": "dep-64-gzhi", "region_code": "64", "name": "Жилинспекция"}],
    "officials": [{"id": "off-64-1", "region_code": "64", "department_id": "dep-64-gzhi", "name": "Петров"}],
    "rules": [{"priority": 10, "region_code": "64", "category": "roads", "department_id": "dep-64-gzhi"}],
}


@pytest.fixture
def routing_app(tmp_path: Path) -> FastAPI:
    settings = RoutingSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}",
        nats_enabled=False,
        seed_demo=False,
        deadline_scanner_enabled=False,
        log_json=False,
    )
    return create_routing(settings)


@pytest.fixture
async def console(tmp_path: Path, routing_app: FastAPI) -> AsyncIterator[Console]:
    settings = routing_app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve(routing_app))
        async with routing_app.state.db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        post = post_classified("nowhere", "Третий день яма у подъезда, машины бьют колёса")
        verdict = post.classification.model_copy(
            update={"region": post.classification.region.model_copy(update={"code": None, "name": None})}
        )
        post = post.model_copy(update={"classification": verdict, "place_hints": PlaceHints()})
        async with routing_app.state.db.transaction() as session:
            await route_posts(writes_of(session), [post], settings=settings, now=datetime.now(UTC))
        gateway = await stack.enter_async_context(running(gateway_settings(tmp_path, routing_url=url)))
        app = create_app(Settings(log_json=False), transport=httpx.ASGITransport(app=gateway.app))
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")
        )
        yield Console(gateway=gateway, client=client)


async def test_the_federal_level_places_a_complaint_without_a_region(console: Console) -> None:
    await console.sign_in("federal")
    page = await console.client.get("/waiting")
    assert page.status_code == 200, page.text
    assert "Ждут решения" in page.text and "регион не определён" in page.text
    assert "Третий день яма у подъезда" in page.text and "жалоба без региона" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    refused = await console.client.post("/waiting/nowhere/place", data={"csrf": "forged", "region_code": "64"})
    assert refused.status_code in (400, 403)
    placed = await console.client.post(
        "/waiting/nowhere/place",
        data={
            "csrf": csrf.group(1),
            "region_code": "64",
            "city": "Саратов",
            "category": "roads",
            "comment": "из Саратова",
        },
    )
    assert placed.status_code == 303 and placed.headers["location"] == "/waiting?done=placed"
    after = await console.client.get("/waiting?done=placed")
    assert "инцидент создан или дополнен" in after.text and 'data-testid="waiting-empty"' in after.text


async def test_a_reading_role_sees_no_forms(console: Console) -> None:
    await console.sign_in("integration64")
    page = await console.client.get("/waiting")
    assert page.status_code == 200
    assert "/waiting/nowhere/place" not in page.text  # not its region's, and not its role's


async def test_a_post_dismissed_as_not_a_complaint_teaches_the_classifier(
    console: Console, routing_app: FastAPI
) -> None:
    await console.sign_in("federal")
    page = await console.client.get("/waiting")
    assert 'name="not_a_complaint"' in page.text and "не жалоба" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    dismissed = await console.client.post(
        "/waiting/nowhere/dismiss", data={"csrf": csrf.group(1), "comment": "реклама", "not_a_complaint": "true"}
    )
    assert dismissed.status_code == 303 and dismissed.headers["location"] == "/waiting?done=not_a_complaint"
    after = await console.client.get(dismissed.headers["location"])
    assert "классификатор учтёт это решение" in after.text and 'data-testid="waiting-empty"' in after.text
    # Routing told the classifier, through its outbox: not a complaint, of no region.
    async with routing_app.state.db.transaction() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    corrections = [(m.subject, decode_event(m.payload).data) for m in outbox]
    assert [
        (subject, data.post_id, data.corrected.is_incident)
        for subject, data in corrections
        if isinstance(data, ClassificationCorrected)
    ] == [("incidents.v1.classification.corrected.noregion", "nowhere", False)]
