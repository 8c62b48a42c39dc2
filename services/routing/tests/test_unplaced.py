"""Posts a person should place: a complaint no region was found for, and a post the classifier
doubted was a complaint, are kept and listed instead of lost; placing one routes it, dismissing
records who decided. Callers are signed as the gateway signs them."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlmodel import select

from incidents_common.db import OutboxMessage, writes_of
from incidents_common.events import ClassificationCorrected, PostClassified, ReviewReason, decode_event
from routing.incidents.writes import route_posts

from .conftest import Users
from .test_access import ADMIN64, ADMIN77, FEDERAL, INTEGRATION64

UNSURE = ReviewReason(field="is_incident", confidence=0.55, detail="не уверен, жалоба ли это: вероятность жалобы 0.55")


def _doubted(post: PostClassified) -> PostClassified:
    verdict = post.classification.model_copy(update={"needs_review": True, "review_reasons": [UNSURE]})
    return post.model_copy(update={"classification": verdict})


async def _route(client: httpx.AsyncClient, *posts: PostClassified) -> None:
    app = client.app  # type: ignore[attr-defined]
    async with app.state.db.transaction() as session:
        await route_posts(writes_of(session), list(posts), settings=app.state.settings)


async def _corrections(client: httpx.AsyncClient) -> dict[str, tuple[str, ClassificationCorrected]]:
    """The ClassificationCorrected events in routing's outbox by post: (subject, payload)."""
    app = client.app  # type: ignore[attr-defined]
    async with app.state.db.transaction() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    events = [(m.subject, decode_event(m.payload)) for m in outbox]
    return {e.data.post_id: (subject, e.data) for subject, e in events if isinstance(e.data, ClassificationCorrected)}


async def test_kept_listed_placed_and_dismissed_by_those_who_may(
    client: httpx.AsyncClient, users: Users, make_post: Any
) -> None:
    nowhere = make_post("nowhere", "Ленина 15, третий подъезд — нет света с утра", region=None, city=None)
    doubted = _doubted(make_post("doubted", "Кто знает, когда починят светофор?", is_incident=False))
    chatter = make_post("chatter", "Продам велосипед", is_incident=False)
    await _route(client, nowhere, doubted, chatter)

    everything = (await users(FEDERAL).get("/v1/unplaced-posts")).json()
    assert sorted(i["post_id"] for i in everything["items"]) == ["doubted", "nowhere"] and everything["total"] == 2
    by_id = {i["post_id"]: i for i in everything["items"]}
    assert by_id["nowhere"]["region_code"] is None and "без региона" in by_id["nowhere"]["reason"]
    assert "жалобы 0.55" in by_id["doubted"]["reason"] and by_id["doubted"]["region_code"] == "64"
    # A region's admin sees its region's posts only; one without a region is the federal level's.
    assert [i["post_id"] for i in (await users(ADMIN64).get("/v1/unplaced-posts")).json()["items"]] == ["doubted"]
    assert (await users(ADMIN77).get("/v1/unplaced-posts")).json()["items"] == []

    assert (await users(INTEGRATION64).post("/v1/unplaced-posts/doubted/dismiss", json={})).status_code == 403
    hidden = await users(ADMIN64).post("/v1/unplaced-posts/nowhere/place", json={"region_code": "64"})
    assert hidden.status_code == 404, hidden.text  # not one it can see: as missing
    foreign = await users(ADMIN64).post("/v1/unplaced-posts/doubted/place", json={"region_code": "77"})
    assert foreign.status_code == 403

    placed = await users(FEDERAL).post(
        "/v1/unplaced-posts/nowhere/place",
        json={"region_code": "64", "city": "Саратов", "category": "housing_utilities", "comment": "автор из Саратова"},
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["decision"] == "placed" and placed.json()["decided_by"] == "key:federal"
    incident = (await client.get(f"/v1/incidents/{placed.json()['incident_id']}")).json()
    assert incident["region_code"] == "64" and incident["category"] == "housing_utilities"
    assert incident["assignee"] is not None
    # The decision is classifier feedback, as a correction is.
    app = client.app  # type: ignore[attr-defined]
    async with app.state.db.transaction() as session:
        outbox = (await session.exec(select(OutboxMessage))).all()
    feedback = [orjson.loads(m.payload) for m in outbox if m.subject == "incidents.v1.classification.corrected.64"]
    assert [f["data"]["post_id"] for f in feedback] == ["nowhere"]
    assert feedback[0]["data"]["corrected"] == {
        "is_incident": True,
        "category": "housing_utilities",
        "region_code": "64",
    }
    assert feedback[0]["data"]["previous"].get("region_code") is None  # (none was found)
    again = await users(FEDERAL).post("/v1/unplaced-posts/nowhere/place", json={"region_code": "64"})
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")

    dismissed = await users(ADMIN64).post("/v1/unplaced-posts/doubted/dismiss", json={"comment": "вопрос, не жалоба"})
    assert dismissed.status_code == 200 and dismissed.json()["decision"] == "dismissed"
    assert (await users(FEDERAL).get("/v1/unplaced-posts")).json()["total"] == 0
    decided = (await users(FEDERAL).get("/v1/unplaced-posts", params={"decided": "true"})).json()
    assert {i["post_id"]: i["decision"] for i in decided["items"]} == {"nowhere": "placed", "doubted": "dismissed"}


async def test_a_redelivered_post_does_not_undo_a_decision(client: httpx.AsyncClient, make_post: Any) -> None:
    nowhere = make_post("again", "нет света с утра во всём доме", region=None, city=None)
    await _route(client, nowhere)
    dismissed = await client.post("/v1/unplaced-posts/again/dismiss", json={})  # the operator
    assert dismissed.status_code == 200
    await _route(client, nowhere)
    listed = (await client.get("/v1/unplaced-posts", params={"decided": "true"})).json()["items"]
    assert [(i["post_id"], i["decision"]) for i in listed] == [("again", "dismissed")]


async def test_a_dismissal_as_not_a_complaint_teaches_the_classifier_and_a_plain_one_nothing(
    client: httpx.AsyncClient, users: Users, make_post: Any
) -> None:
    advert = _doubted(make_post("advert", "Светофоры оптом, доставка по области", is_incident=False, urgency="high"))
    nowhere = make_post("nowhere", "Кто-нибудь знает, где купить краску для забора?", region=None, city=None)
    hopeless = make_post("hopeless", "Всё плохо, и никто ничего не делает", region=None, city=None)
    await _route(client, advert, nowhere, hopeless)

    # A complaint nobody can act on is still a complaint: nothing for the classifier to learn.
    plain = await users(FEDERAL).post("/v1/unplaced-posts/hopeless/dismiss", json={"comment": "не о чем сообщить"})
    assert plain.status_code == 200, plain.text
    assert plain.json()["not_a_complaint"] is False  # recorded, and shown in the queue
    assert await _corrections(client) == {}
    # A field that teaches the model takes a JSON boolean only (QA: "yes" was read as true).
    loose = await users(FEDERAL).post("/v1/unplaced-posts/nowhere/dismiss", json={"not_a_complaint": "yes"})
    assert loose.status_code == 422, loose.text

    answers = [
        await users(ADMIN64).post(
            "/v1/unplaced-posts/advert/dismiss", json={"not_a_complaint": True, "comment": "реклама"}
        ),
        await users(FEDERAL).post("/v1/unplaced-posts/nowhere/dismiss", json={"not_a_complaint": True}),
    ]
    assert [(a.status_code, a.json()["decision"], a.json()["not_a_complaint"]) for a in answers] == [
        (200, "dismissed", True)
    ] * 2
    corrections = await _corrections(client)
    assert sorted(corrections) == ["advert", "nowhere"]
    subject, advert_correction = corrections["advert"]
    assert subject == "incidents.v1.classification.corrected.64"  # its region's subscribers see it
    assert advert_correction.corrected.stated() == ["is_incident"] and advert_correction.corrected.is_incident is False
    assert advert_correction.previous.model_dump(exclude_none=True) == {
        "is_incident": False,
        "category": "roads",
        "urgency": "high",
        "region_code": "64",
    }
    assert (advert_correction.incident_id, advert_correction.region_code) == (None, "64")
    assert (advert_correction.operator, advert_correction.comment) == ("key:admin64", "реклама")
    assert advert_correction.review_reasons == [UNSURE]
    # No region: a subject token no region code can be, so no region's subscriber receives it.
    subject, nowhere_correction = corrections["nowhere"]
    assert subject == "incidents.v1.classification.corrected.noregion"
    assert (nowhere_correction.incident_id, nowhere_correction.region_code) == (None, None)
    assert nowhere_correction.corrected.is_incident is False and nowhere_correction.operator == "key:federal"
