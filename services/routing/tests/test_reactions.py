"""Citizens' reactions to a published reply (routing.incidents.reactions): the complainant's thanks and
«not fixed» set the incident's satisfaction, «not fixed» reopens it (or flags it, by setting), a
neighbour's reaction is recorded only, and every reaction is in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlmodel import select

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.events import IncidentAction, ReactionClassified, ReactionLabel, new_event
from routing.config import Settings
from routing.deadlines.models import Deadline, DeadlineState
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Incident, IncidentHistory
from routing.incidents.queries import incident_detail
from routing.incidents.reactions import reactions_handler
from routing.incidents.schemas import ActionRequest
from routing.incidents.writes import route_posts

from .conftest import publish_outcome


async def _answered(db: Database, settings: Settings, make_post: Any, t0: datetime, post_id: str) -> str:
    """An incident whose reply was published under the complaint."""
    async with db.transaction() as session:
        (incident,) = await route_posts(
            writes_of(session), [make_post(post_id, "Огромная яма на дороге")], settings=settings, now=t0
        )
    assert incident is not None
    async with db.transaction() as session:
        await perform_action(
            session,
            incident_id=incident.id,
            actor="roads-a",
            request=ActionRequest(action=IncidentAction.reply, reply_text="Яму заделаем до 5 декабря, бригада ДЭУ-2"),
            settings=settings,
            now=t0 + timedelta(hours=1),
        )
    await publish_outcome(
        db, incident.id, "published", at=t0 + timedelta(hours=1), url="https://vk.com/wall-1_2?reply=3"
    )
    return incident.id


async def _react(
    db: Database,
    settings: Settings,
    incident_id: str,
    label: ReactionLabel,
    *,
    by_complainant: bool,
    n: int,
    at: datetime,
) -> None:
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None and incident.reply_publication is not None
        reaction = ReactionClassified(
            reaction_id=f"vk:-1_2_c{n}",
            reply_id=incident.reply_publication["reply_id"],
            incident_id=incident_id,
            region_code=incident.region_code,
            by_complainant=by_complainant,
            text={"thanks": "Спасибо, заделали!", "not_fixed": "Ничего не сделали, яма как была"}.get(
                label.value, "ок"
            ),
            published_at=at,
            url=f"https://vk.com/wall-1_2?reply={n}",
            label=label,
            confidence=0.93,
            evidence=["как была"] if label == ReactionLabel.not_fixed else ["спасибо"],
            model_version="reactions-test",
        )
        event = new_event(reaction, source="/classifier").model_copy(update={"time": at})
        await reactions_handler(settings)(session.writes, [event])


async def _incident(db: Database, incident_id: str) -> Incident:
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        return incident


async def test_the_complainants_thanks_make_the_incident_satisfied(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _answered(db, settings, make_post, t0, "r1")
    assert (await _incident(db, incident_id)).satisfaction == "no_reaction"
    await _react(db, settings, incident_id, ReactionLabel.thanks, by_complainant=True, n=10, at=t0 + timedelta(days=2))
    incident = await _incident(db, incident_id)
    assert (incident.satisfaction, incident.status) == ("satisfied", "answered")
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
        detail = await incident_detail(session, incident_id=incident_id, settings=settings)
    events = [orjson.loads(r.payload) for r in rows]
    reaction_event = [e for e in events if e["type"] == "ru.incidents.incident.reaction"][-1]
    assert (
        reaction_event["data"]["label"] == "thanks"
        and reaction_event["data"]["incident"]["satisfaction"] == "satisfied"
    )
    assert [(r.label, r.by_complainant) for r in detail.reactions] == [("thanks", True)]
    assert detail.satisfaction == "satisfied"
    assert detail.history[-1].action == "reaction" and "Спасибо, заделали!" in (detail.history[-1].comment or "")
    assert (detail.history[-1].comment or "").startswith("Заявитель: благодарность")


async def test_the_complainants_not_fixed_reopens_it_with_new_clocks(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _answered(db, settings, make_post, t0, "r2")
    at = t0 + timedelta(days=3)
    await _react(db, settings, incident_id, ReactionLabel.not_fixed, by_complainant=True, n=11, at=at)
    incident = await _incident(db, incident_id)
    assert (incident.status, incident.satisfaction) == ("reopened", "not_satisfied")
    async with db.transaction() as session:
        clocks = (await session.exec(select(Deadline).where(Deadline.incident_id == incident_id))).all()
        history = (await session.exec(select(IncidentHistory).where(IncidentHistory.incident_id == incident_id))).all()
    assert {d.state for d in clocks if d.started_at == at} == {DeadlineState.pending}  # new clocks from now
    reopen = [h for h in history if h.action == "reopen"]
    assert len(reopen) == 1 and reopen[0].actor == "citizen" and "яма как была" in (reopen[0].comment or "")
    assert (reopen[0].comment or "").startswith("Заявитель сообщает, что проблема не устранена: «")


async def test_with_the_flag_setting_the_curator_decides(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    flagging = settings.model_copy(update={"not_fixed_action": "flag"})
    incident_id = await _answered(db, flagging, make_post, t0, "r3")
    await _react(
        db, flagging, incident_id, ReactionLabel.not_fixed, by_complainant=True, n=12, at=t0 + timedelta(days=1)
    )
    incident = await _incident(db, incident_id)
    assert (incident.status, incident.flagged, incident.satisfaction) == ("answered", True, "not_satisfied")
    assert (incident.flag_reason or "").startswith("Заявитель сообщает, что проблема не устранена: «")


async def test_a_neighbours_reaction_is_recorded_only_and_a_repeat_is_ignored(
    db: Database, settings: Settings, make_post: Any, t0: datetime
) -> None:
    incident_id = await _answered(db, settings, make_post, t0, "r4")
    for _ in range(2):
        await _react(
            db, settings, incident_id, ReactionLabel.not_fixed, by_complainant=False, n=13, at=t0 + timedelta(days=1)
        )
    incident = await _incident(db, incident_id)
    assert (incident.status, incident.satisfaction, incident.flagged) == ("answered", "no_reaction", False)
    async with db.transaction() as session:
        detail = await incident_detail(session, incident_id=incident_id, settings=settings)
    assert [(r.label, r.by_complainant) for r in detail.reactions] == [("not_fixed", False)]
    assert [h.action for h in detail.history].count("reaction") == 1
