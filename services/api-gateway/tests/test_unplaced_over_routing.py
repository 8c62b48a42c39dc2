"""Posts awaiting a person, through the gateway over a REAL routing: a complaint no region was found
for is listed to the federal level and placed by it; a doubted post is its region's; the roles that
never decide are refused before routing is asked."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from api_gateway.testing import Gateway, gateway_settings, running, serve
from incidents_common.db import OutboxMessage, writes_of
from incidents_common.events import ClassificationCorrected, PlaceHints, ReviewReason, decode_event
from incidents_common.testing import post_classified
from routing.directory.service import import_directory
from routing.incidents.writes import route_posts
from routing.main import create_app as create_routing

from .test_directory_over_routing import DIRECTORY, Recorder, routing_settings


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Recorder]]:
    settings = routing_settings(tmp_path)
    routing_app = create_routing(settings)
    recorder = Recorder(routing_app)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve(recorder))  # type: ignore[arg-type]
        db = routing_app.state.db
        async with db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        nowhere = post_classified("nowhere", "Третий день яма у подъезда, машины бьют колёса")
        verdict = nowhere.classification
        no_region = verdict.region.model_copy(update={"code": None, "name": None})
        nowhere = nowhere.model_copy(
            update={"classification": verdict.model_copy(update={"region": no_region}), "place_hints": PlaceHints()}
        )
        doubted = post_classified("doubted", "Кто знает, когда починят дорогу?")
        unsure = ReviewReason(field="is_incident", confidence=0.55, detail="не уверен, жалоба ли это")
        doubted = doubted.model_copy(
            update={
                "classification": doubted.classification.model_copy(
                    update={"is_incident": False, "needs_review": True, "review_reasons": [unsure]}
                )
            }
        )
        async with db.transaction() as session:
            await route_posts(writes_of(session), [nowhere, doubted], settings=settings, now=datetime.now(UTC))
        gateway = await stack.enter_async_context(running(gateway_settings(tmp_path, routing_url=url)))
        yield gateway, recorder


async def test_listed_by_region_placed_by_the_federal_level(gw: tuple[Gateway, Recorder]) -> None:
    gateway, recorder = gw
    federal = await gateway.client.get("/v1/review-queue/posts", headers=gateway.headers("federal"))
    assert federal.status_code == 200, federal.text
    assert sorted(i["post_id"] for i in federal.json()["items"]) == ["doubted", "nowhere"]
    mine = await gateway.client.get("/v1/review-queue/posts", headers=gateway.headers("admin64"))
    assert [i["post_id"] for i in mine.json()["items"]] == ["doubted"]
    assert (await gateway.client.get("/v1/review-queue/posts")).status_code == 401

    recorder.calls.clear()
    refused = await gateway.client.post(
        "/v1/review-queue/posts/doubted/dismiss", json={}, headers=gateway.headers("integration64")
    )
    assert refused.status_code == 403 and recorder.calls == []  # refused before routing was asked
    hidden = await gateway.client.post(
        "/v1/review-queue/posts/nowhere/place", json={"region_code": "64"}, headers=gateway.headers("admin64")
    )
    assert hidden.status_code == 404, hidden.text  # routing: not one of its region's

    placed = await gateway.client.post(
        "/v1/review-queue/posts/nowhere/place",
        json={"region_code": "64", "city": "Саратов", "comment": "автор из Саратова"},
        headers=gateway.headers("federal"),
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["decision"] == "placed" and placed.json()["incident_id"]
    dismissed = await gateway.client.post(
        "/v1/review-queue/posts/doubted/dismiss", json={"comment": "вопрос"}, headers=gateway.headers("admin64")
    )
    assert dismissed.status_code == 200 and dismissed.json()["decision"] == "dismissed"
    left = await gateway.client.get("/v1/review-queue/posts", headers=gateway.headers("federal"))
    assert left.json()["total"] == 0


async def test_a_dismissal_as_not_a_complaint_reaches_routing(gw: tuple[Gateway, Recorder]) -> None:
    """The gateway passes `not_a_complaint` on: routing then tells the classifier (its outbox); a plain
    dismissal tells it nothing."""
    gateway, recorder = gw
    plain = await gateway.client.post(
        "/v1/review-queue/posts/nowhere/dismiss", json={"comment": "не о чем"}, headers=gateway.headers("federal")
    )
    assert plain.status_code == 200, plain.text
    dismissed = await gateway.client.post(
        "/v1/review-queue/posts/doubted/dismiss",
        json={"not_a_complaint": True, "comment": "вопрос"},
        headers=gateway.headers("admin64"),
    )
    assert dismissed.status_code == 200 and dismissed.json()["decision"] == "dismissed", dismissed.text
    assert (plain.json()["not_a_complaint"], dismissed.json()["not_a_complaint"]) == (False, True)
    loose = await gateway.client.post(
        "/v1/review-queue/posts/nowhere/dismiss", json={"not_a_complaint": "yes"}, headers=gateway.headers("federal")
    )
    assert loose.status_code == 422 and loose.headers["content-type"].startswith("application/problem+json")
    async with recorder.app.state.db.transaction() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    events = [(m.subject, decode_event(m.payload).data) for m in outbox]
    corrections = [(subject, data) for subject, data in events if isinstance(data, ClassificationCorrected)]
    assert [(subject, data.post_id) for subject, data in corrections] == [
        ("incidents.v1.classification.corrected.64", "doubted")
    ]
    data = corrections[0][1]
    assert data.corrected.is_incident is False and data.incident_id is None
    assert data.operator.startswith("key:") and data.comment == "вопрос"  # the admin's key, as routing saw it
