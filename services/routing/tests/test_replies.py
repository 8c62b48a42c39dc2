"""Replies published where the complaint was: routing asks the collector, and applies what came of it
to the incident's clocks, status and audit log (routing.incidents.replies)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlmodel import select

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.events import BadEvent, IncidentAction, PublicationStatus, ReplyKind, ReplyPublication, new_event
from routing.config import Settings
from routing.deadlines.models import Clock, Deadline, DeadlineState
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Incident, IncidentHistory, Reply
from routing.incidents.queries import incident_detail
from routing.incidents.replies import apply_publications
from routing.incidents.schemas import ActionRequest
from routing.incidents.writes import route_posts

from .conftest import publish_outcome


async def _incident(db: Database, settings: Settings, post: Any, now: datetime) -> str:
    async with db.transaction() as session:
        (incident,) = await route_posts(writes_of(session), [post], settings=settings, now=now)
    assert incident is not None
    return incident.id


async def _reply(db: Database, settings: Settings, incident_id: str, at: datetime, **fields: Any) -> Incident:
    async with db.transaction() as session:
        return await perform_action(
            session,
            incident_id=incident_id,
            actor="roads-a",
            request=ActionRequest(
                action=fields.pop("action", IncidentAction.reply), reply_text="Яму заделаем до 5 декабря", **fields
            ),
            settings=settings,
            now=at,
        )


async def _events(db: Database) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [orjson.loads(r.payload) for r in rows]


async def _clocks(db: Database, incident_id: str) -> dict[str, tuple[str, datetime | None]]:
    async with db.transaction() as session:
        rows = (await session.exec(select(Deadline).where(Deadline.incident_id == incident_id))).all()
    return {d.clock: (d.state, d.closed_at) for d in rows}


async def _history(db: Database, incident_id: str) -> list[IncidentHistory]:
    async with db.transaction() as session:
        query = select(IncidentHistory).where(IncidentHistory.incident_id == incident_id).order_by(IncidentHistory.seq)  # type: ignore[arg-type]
        return list((await session.exec(query)).all())


async def test_a_reply_is_asked_of_the_collector_and_the_clocks_run_until_it_is_out(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _incident(db, settings, make_post("p1", "Огромная яма на дороге"), t0)
    replied_at = t0 + timedelta(hours=2)
    incident = await _reply(db, settings, incident_id, replied_at)
    assert incident.status == "answered"
    assert incident.reply_publication is not None and incident.reply_publication["status"] == "pending"
    assert {clock: state for clock, (state, _) in (await _clocks(db, incident_id)).items()} == {
        Clock.first_reaction: DeadlineState.pending,
        Clock.final: DeadlineState.pending,
    }
    (request,) = [e for e in await _events(db) if e["type"] == "ru.incidents.reply.requested"]
    assert request["data"] | {"reply_id": "-", "requested_at": "-"} == {
        "reply_id": "-",
        "incident_id": incident_id,
        "region_code": incident.region_code,
        "kind": "reply",
        "text": "Яму заделаем до 5 декабря",
        "post_id": "p1",
        "source_type": "vk",
        "external_id": request["data"]["external_id"],
        "actor": "roads-a",
        "requested_at": "-",
    }
    assert request["data"]["external_id"]  # the post's id at VK, for the collector to find it
    status_event = [e for e in await _events(db) if e["type"] == "ru.incidents.incident.status_changed"][-1]
    assert status_event["data"]["incident"]["reply"]["status"] == "pending"

    reply_id = await publish_outcome(
        db, incident_id, "published", at=replied_at + timedelta(seconds=3), url="https://vk.com/wall-1_2?reply=7"
    )
    clocks = await _clocks(db, incident_id)
    assert clocks[Clock.first_reaction] == (DeadlineState.met, replied_at)  # met when the official replied
    assert clocks[Clock.final] == (DeadlineState.met, replied_at)
    async with db.transaction() as session:
        stored = await session.get(Incident, incident_id)
        reply = await session.get(Reply, reply_id)
        assert stored is not None and reply is not None
        assert stored.status == "answered" and stored.first_response_at == replied_at
        assert stored.reply_url == "https://vk.com/wall-1_2?reply=7"
        assert (reply.status, reply.channel, reply.url) == ("published", "vk", "https://vk.com/wall-1_2?reply=7")
        detail = await incident_detail(session, incident_id=incident_id, settings=settings)
    assert [(r.kind, r.status, r.url) for r in detail.replies] == [
        ("reply", "published", "https://vk.com/wall-1_2?reply=7")
    ]
    published = [e for e in await _events(db) if e["type"] == "ru.incidents.incident.reply_publication"]
    assert published[-1]["data"]["reply"]["status"] == "published"
    assert published[-1]["data"]["incident"]["reply"]["url"] == "https://vk.com/wall-1_2?reply=7"
    last = (await _history(db, incident_id))[-1]
    assert last.action == "reply_published"
    assert last.comment == "Ответ опубликован (vk): https://vk.com/wall-1_2?reply=7"


async def test_a_reply_that_failed_to_publish_stops_nothing_and_sends_the_incident_back(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _incident(db, settings, make_post("p2", "Огромная яма на дороге"), t0)
    await _reply(db, settings, incident_id, t0 + timedelta(hours=1))
    reason = "comments are closed on this post (VK error 213)"
    await publish_outcome(
        db, incident_id, "failed", at=t0 + timedelta(hours=1, seconds=2), reason=reason, error_code="vk:213"
    )
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        assert incident.status == "in_progress"
        assert incident.first_response_at is None
        assert incident.reply_publication is not None
        assert (incident.reply_publication["status"], incident.reply_publication["error_code"]) == ("failed", "vk:213")
    assert {state for state, _ in (await _clocks(db, incident_id)).values()} == {DeadlineState.pending}
    history = await _history(db, incident_id)
    assert [h.action for h in history[-2:]] == ["reply_failed", "reply_not_published"]
    assert history[-1].comment == f"Ответ не опубликован: {reason}" and history[-1].to_status == "in_progress"
    assert history[-2].comment == f"Ответ: не опубликован (vk): {reason}"
    # The official answers again; this one is published and counts.
    again_at = t0 + timedelta(hours=3)
    incident = await _reply(db, settings, incident_id, again_at)
    assert incident.status == "answered"
    await publish_outcome(db, incident_id, "published", at=again_at + timedelta(seconds=1), url="https://vk.com/r")
    assert (await _clocks(db, incident_id))[Clock.final] == (DeadlineState.met, again_at)


@pytest.mark.parametrize("status", ["recorded_only", "unconfirmed"])
async def test_a_reply_that_can_only_be_recorded_or_is_unconfirmed_still_counts(
    db: Database, settings: Settings, make_post: Any, t0: datetime, status: str
) -> None:
    incident_id = await _incident(db, settings, make_post("p3", "Огромная яма на дороге"), t0)
    await _reply(db, settings, incident_id, t0 + timedelta(hours=1))
    await publish_outcome(db, incident_id, status, at=t0 + timedelta(hours=1), channel="none", reason="pushed post")
    assert {state for state, _ in (await _clocks(db, incident_id)).values()} == {DeadlineState.met}


async def test_a_late_or_repeated_outcome_changes_nothing(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _incident(db, settings, make_post("p4", "Огромная яма на дороге"), t0)
    await _reply(db, settings, incident_id, t0 + timedelta(hours=1))
    reply_id = await publish_outcome(db, incident_id, "published", at=t0 + timedelta(hours=1), url="https://vk.com/a")
    entries = len(await _history(db, incident_id))
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        late = ReplyPublication(
            reply_id=reply_id,
            incident_id=incident_id,
            region_code=incident.region_code,
            kind=ReplyKind.reply,
            status=PublicationStatus.failed,
            channel="vk",
            reason="late",
            at=t0 + timedelta(hours=2),
        )
        await apply_publications(session.writes, [new_event(late, source="/collector")])
    assert len(await _history(db, incident_id)) == entries
    async with db.transaction() as session:
        stored = await session.get(Incident, incident_id)
        assert stored is not None and stored.status == "answered"


async def test_a_reply_posted_by_hand_counts_at_once_and_is_not_published_again(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _incident(db, settings, make_post("p5", "Огромная яма на дороге"), t0)
    replied_at = t0 + timedelta(hours=1)
    incident = await _reply(db, settings, incident_id, replied_at, reply_url="https://vk.com/wall-1_2?reply=9")
    assert incident.reply_publication is not None
    assert (incident.reply_publication["status"], incident.reply_publication["channel"]) == ("published", "manual")
    assert (await _clocks(db, incident_id))[Clock.final] == (DeadlineState.met, replied_at)
    assert not [e for e in await _events(db) if e["type"] == "ru.incidents.reply.requested"]


async def test_an_interim_answer_is_published_too(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _incident(db, settings, make_post("p6", "Огромная яма на дороге"), t0)
    await _reply(db, settings, incident_id, t0 + timedelta(hours=1), action=IncidentAction.interim_answer)
    (request,) = [e for e in await _events(db) if e["type"] == "ru.incidents.reply.requested"]
    assert request["data"]["kind"] == "interim"
    # Pending: the first-reaction clock runs on until the interim answer is out.
    assert (await _clocks(db, incident_id))[Clock.first_reaction][0] == DeadlineState.pending
    await publish_outcome(db, incident_id, "published", at=t0 + timedelta(hours=1, seconds=5), url="https://vk.com/i")
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None and incident.status == "in_progress"
        assert incident.reply_publication is not None and incident.reply_publication["kind"] == "interim"
        assert incident.first_response_at == t0 + timedelta(hours=1)  # met when it was given
    assert (await _clocks(db, incident_id))[Clock.first_reaction] == (DeadlineState.met, t0 + timedelta(hours=1))


async def test_an_outcome_for_an_unknown_reply_is_a_bad_event(db: Database, t0: datetime) -> None:
    unknown = ReplyPublication(
        reply_id="nope",
        incident_id="x",
        region_code="64",
        kind=ReplyKind.reply,
        status=PublicationStatus.published,
        channel="vk",
        at=t0,
    )
    with pytest.raises(BadEvent, match="unknown reply"):
        async with db.transaction() as session:
            await apply_publications(session.writes, [new_event(unknown, source="/collector")])
