"""Replies published where the complaint was (issue 14): the read model keeps the latest reply's
publishing from routing's snapshots, and an official reads it (status, link, or the reason it failed)
on the incident, over HTTP with a regional key; the reply_publication event is in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_gateway.testing import Gateway
from incidents_common.events import (
    IncidentReplyPublication,
    IncidentStatus,
    IncidentStatusChanged,
    PublicationStatus,
    ReplyKind,
    ReplyState,
    Satisfaction,
)
from incidents_common.testing import T0, incident_snapshot


def _state(status: PublicationStatus, **fields: object) -> ReplyState:
    return ReplyState(
        reply_id="r-1",
        kind=ReplyKind.reply,
        status=status,
        requested_at=T0,
        at=T0 + timedelta(seconds=2),
        **fields,  # type: ignore[arg-type]
    )


async def test_an_official_sees_where_the_reply_stands(gw: Gateway) -> None:
    await gw.create(incident_snapshot("inc-64-pit"))
    pending = _state(PublicationStatus.pending)
    answered = incident_snapshot("inc-64-pit", status=IncidentStatus.answered).model_copy(
        update={"reply": pending, "revision": 3}
    )
    await gw.feed(
        IncidentStatusChanged(
            incident=answered,
            from_status=IncidentStatus.in_progress,
            to_status=IncidentStatus.answered,
            actor="off-64-1",
        )
    )
    headers = gw.headers("admin64")
    detail = (await gw.client.get("/v1/incidents/inc-64-pit", headers=headers)).json()
    assert (detail["status"], detail["reply"]["status"]) == ("answered", "pending")

    failed = _state(
        PublicationStatus.failed,
        channel="vk",
        reason="comments are closed on this post (VK error 213)",
        error_code="vk:213",
    )
    back = answered.model_copy(update={"status": IncidentStatus.in_progress, "reply": failed, "revision": 5})
    await gw.feed(IncidentReplyPublication(incident=back, reply=failed))
    detail = (await gw.client.get("/v1/incidents/inc-64-pit", headers=headers)).json()
    assert detail["status"] == "in_progress"
    assert detail["reply"] | {"at": None, "requested_at": None} == {
        "reply_id": "r-1",
        "kind": "reply",
        "status": "failed",
        "channel": "vk",
        "url": None,
        "reason": "comments are closed on this post (VK error 213)",
        "error_code": "vk:213",
        "text": None,
        "requested_at": None,
        "at": None,
    }
    listed = await gw.client.get("/v1/incidents", params={"status": "in_progress"}, headers=headers)
    assert [(i["incident_id"], i["reply"]["status"]) for i in listed.json()["items"]] == [("inc-64-pit", "failed")]
    assert [entry["type"] for entry in detail["history"]][-1] == "incident.reply_publication"


async def test_satisfaction_is_kept_and_counted_beside_speed(gw: Gateway) -> None:
    """Three Saratov incidents with published replies (satisfied, not satisfied, no reaction) and one
    in Samara (satisfied): the summary counts them per region and the rating scores them beside speed."""
    published = _state(PublicationStatus.published, channel="vk", url="https://vk.com/wall-1_2?reply=3")
    cases = [("inc-64-a", "64", "satisfied"), ("inc-64-b", "64", "not_satisfied"), ("inc-64-c", "64", "no_reaction")]
    cases.append(("inc-63-a", "63", "satisfied"))
    for incident_id, region, satisfaction in cases:
        snap = incident_snapshot(incident_id, region=region, status=IncidentStatus.answered, first_response_at=T0)
        await gw.create(
            snap.model_copy(update={"reply": published, "satisfaction": Satisfaction(satisfaction), "revision": 4})
        )
    detail = (await gw.client.get("/v1/incidents/inc-64-b", headers=gw.headers("admin64"))).json()
    assert detail["satisfaction"] == "not_satisfied"
    summary = (
        await gw.client.get("/v1/analytics/summary", params={"by": "region"}, headers=gw.headers("federal"))
    ).json()
    saratov = next(g for g in summary["groups"] if g["key"] == "64")
    assert (saratov["satisfied"], saratov["not_satisfied"], saratov["no_reaction"]) == (1, 1, 1)
    assert saratov["share_satisfied"] == round(1 / 3, 4)
    rating = (
        await gw.client.get("/v1/analytics/rating", params={"level": "region"}, headers=gw.headers("federal"))
    ).json()
    scores = {e["key"]: e["satisfaction_score"] for e in rating["entries"]}
    assert scores["63"] > scores["64"]  # one of one satisfied against one of three


async def test_an_open311_request_carries_the_answer_as_its_status_note(gw: Gateway) -> None:
    text = "Яму заделает бригада ДЭУ-2 до 10 декабря."
    recorded = _state(PublicationStatus.recorded_only, channel="none", reason="the complaint came by HTTP push")
    snap = incident_snapshot(
        "inc-64-o311", status=IncidentStatus.answered, created_at=datetime.now(UTC) - timedelta(hours=2)
    )
    await gw.create(snap.model_copy(update={"reply": recorded.model_copy(update={"text": text}), "revision": 4}))
    await gw.create(incident_snapshot("inc-64-plain", created_at=datetime.now(UTC) - timedelta(hours=1)))
    listed = await gw.client.get("/open311/v2/requests.json", headers=gw.headers("integration64"))
    notes = {r["service_request_id"]: r["status_notes"] for r in listed.json()}
    assert notes == {"inc-64-o311": text, "inc-64-plain": "assigned"}
