"""SLA policies, clocks in working time, warnings, escalation up the chain, restarts and replicas."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlmodel import delete, func, select

from incidents_common.db import Database, OutboxMessage, utcnow, writes_of
from incidents_common.events import IncidentAction
from incidents_common.testing import ServiceAuth, eventually
from routing.config import Settings
from routing.deadlines.calendar import WorkCalendar
from routing.deadlines.models import Clock, Deadline, DeadlineState, SlaPolicy
from routing.deadlines.service import INTERIM_SUFFIX, resolve_policy
from routing.directory.models import Official
from routing.directory.service import import_directory
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Escalation, Incident, IncidentHistory
from routing.incidents.queries import incident_detail
from routing.incidents.scanner import scan
from routing.incidents.schemas import ActionRequest
from routing.incidents.snapshots import IncidentRecord
from routing.incidents.writes import route_posts
from routing.main import create_app
from routing.wording import moment as written

from .conftest import publish_outcome


async def _incident(db: Database, settings: Settings, post: Any, now: datetime) -> IncidentRecord:
    async with db.transaction() as session:
        (incident,) = await route_posts(writes_of(session), [post], settings=settings, now=now)
    assert incident is not None
    return incident


async def _types(db: Database) -> list[str]:
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [orjson.loads(r.payload)["type"].removeprefix("ru.incidents.") for r in rows]


async def _clear_outbox(db: Database) -> None:
    async with db.transaction() as session:
        await session.exec(delete(OutboxMessage))  # type: ignore[call-overload]


class TestPolicies:
    async def test_most_specific_policy_wins(self, db: Database, settings: Settings) -> None:
        async with db.transaction() as session:
            session.add(SlaPolicy(region_code="64", first_reaction_hours=6, description="region"))
            session.add(SlaPolicy(region_code="64", category="roads", first_reaction_hours=3))
            session.add(SlaPolicy(category="roads", urgency="critical", first_reaction_hours=1))
            await session.flush()

            async def hours(**key: str) -> float:
                return (await resolve_policy(session, settings=settings, **key)).first_reaction_hours  # type: ignore[arg-type]

            assert await hours(region_code="64", category="roads", urgency="normal") == 3
            assert await hours(region_code="64", category="roads", urgency="critical") == 3  # region beats urgency
            assert await hours(region_code="64", category="waste", urgency="normal") == 6
            assert await hours(region_code="63", category="roads", urgency="critical") == 1
            assert await hours(region_code="63", category="waste", urgency="critical") == 4  # shipped critical policy
            assert await hours(region_code="63", category="waste", urgency="normal") == 8  # shipped default

    async def test_clocks_follow_the_assignees_zone_and_policy(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(db, settings, make_post("d1", "Огромная яма на дороге"), t0)
        saratov = WorkCalendar("Europe/Saratov")
        assert incident.first_response_due == saratov.add(t0, 8 * 3600)
        assert incident.final_due == saratov.add_days(t0, 10)
        critical = await _incident(
            db,
            settings,
            make_post("d2", "Прорвало трубу отопления, кипяток", category="housing_utilities", urgency="critical"),
            t0,
        )
        assert critical.first_response_due == saratov.add(t0, 4 * 3600)
        # Which policy set the deadlines travels with the incident, in every event's snapshot.
        async with db.transaction() as session:
            names = {d.incident_id: d.policy for d in (await session.exec(select(Deadline))).all()}
            events = [orjson.loads(r.payload) for r in (await session.exec(select(OutboxMessage))).all()]
        assert incident.sla_policy == names[incident.id] and incident.sla_policy.startswith("Политика SLA")
        assert critical.sla_policy == names[critical.id] != incident.sla_policy  # the shipped critical policy
        snapshots = [e["data"]["incident"] for e in events if e["type"] == "ru.incidents.incident.assigned"]
        assert {(s["incident_id"], s["sla_policy"]) for s in snapshots} == {
            (incident.id, incident.sla_policy),
            (critical.id, critical.sla_policy),
        }


class TestScanner:
    async def test_warning_then_escalation_up_the_chain(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        incident = await _incident(db, settings, make_post("e1", "Огромная яма на дороге"), t0)
        await _clear_outbox(db)
        due = incident.first_response_due
        assert due is not None
        async with db.transaction() as session:
            assert (await scan(session, settings=settings, now=t0 + timedelta(minutes=5))).warnings == 0
        async with db.transaction() as session:
            first = await scan(session, settings=settings, now=due - timedelta(minutes=30))
        assert first.warnings == 1 and first.escalations == 0
        async with db.transaction() as session:
            again = await scan(session, settings=settings, now=due - timedelta(minutes=20))
        assert again.warnings == 0  # warned once per clock
        levels = []
        moment = due
        for _ in range(4):
            async with db.transaction() as session:
                await scan(session, settings=settings, now=moment + timedelta(seconds=1))
                current = await session.get(Incident, incident.id)
                assert current is not None
                levels.append((current.escalation_level, current.escalated_to_id))
                moment = current.first_response_due or moment
        assert levels == [(1, "curator"), (2, "deputy"), (3, "office"), (3, "office")]
        types = await _types(db)
        assert types.count("incident.deadline_warning") >= 1
        assert types.count("incident.escalated") == 3
        async with db.transaction() as session:
            escalations = (await session.exec(select(Escalation).order_by(Escalation.level))).all()  # type: ignore[arg-type]
        assert [e.escalated_to_id for e in escalations] == ["curator", "deputy", "office"]
        assert escalations[0].clock == "first_reaction"
        assert escalations[0].reason == f"пропущен срок первой реакции (до {written(due)})"
        async with db.transaction() as session:
            history = (
                await session.exec(
                    select(IncidentHistory)
                    .where(IncidentHistory.incident_id == incident.id)
                    .order_by(IncidentHistory.seq)  # type: ignore[arg-type]
                )
            ).all()
        comments = {h.action: h.comment for h in history}
        assert [h.comment for h in history if h.action == "deadline_warning"][0] == (
            f"Приближается срок первой реакции: до {written(due)}"
        )
        assert [h.comment for h in history if h.action == "escalated"][0] == (
            f"Эскалация, уровень 1 (куратор региона) → Куратор Е. Е.: {escalations[0].reason}"
        )
        assert (comments["breach_at_top"] or "").startswith("Эскалация невозможна, достигнут верхний уровень: пропущен")

    async def test_reply_stops_the_clocks_and_interim_answer_restarts_the_final_one(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        answered = await _incident(db, settings, make_post("f1", "Огромная яма на дороге"), t0)
        paused = await _incident(db, settings, make_post("f2", "Сломана лавочка во дворе", category="healthcare"), t0)
        later = t0 + timedelta(hours=2)
        async with db.transaction() as session:
            await perform_action(
                session,
                incident_id=answered.id,
                actor="roads-a",
                request=ActionRequest(action=IncidentAction.reply, reply_text="Заделаем"),
                settings=settings,
                now=later,
            )
            interim = await perform_action(
                session,
                incident_id=paused.id,
                actor="health-a",
                request=ActionRequest(
                    action=IncidentAction.interim_answer,
                    reply_text="Разбираемся",
                    reply_url="https://vk.com/wall-1_6?reply=2",
                ),
                settings=settings,
                now=later,
            )
            assert interim.first_response_due is None
            assert interim.final_due == WorkCalendar("Europe/Saratov").add_days(later, 7)
            assert interim.sla_policy == paused.sla_policy + INTERIM_SUFFIX  # the interim answer's final clock
        # The reply stops the clocks once the collector has published it, met at the time it was given.
        await publish_outcome(db, answered.id, "published", at=later + timedelta(minutes=1), url="https://vk.com/x")
        async with db.transaction() as session:
            stopped = await session.get(Incident, answered.id)
            assert stopped is not None and stopped.final_due is None
            assert stopped.sla_policy == answered.sla_policy  # the policy it was answered under
        async with db.transaction() as session:
            states = {
                (d.clock, d.state)
                for d in (await session.exec(select(Deadline).where(Deadline.incident_id == paused.id))).all()
            }
        assert states == {
            (Clock.first_reaction, DeadlineState.met),
            (Clock.final, DeadlineState.paused),
            (Clock.final, DeadlineState.pending),
        }
        async with db.transaction() as session:
            result = await scan(session, settings=settings, now=t0 + timedelta(days=5))
        assert result.escalations == 0

    async def test_pending_deadlines_survive_a_restart(
        self, settings: Settings, make_post: Any, small_directory: dict[str, Any]
    ) -> None:

        first = create_app(settings)
        async with first.router.lifespan_context(first):
            async with first.state.db.transaction() as session:
                await import_directory(session, document=small_directory)
            # Created three weeks ago and never answered: every clock is overdue by now.
            incident = await _incident(
                first.state.db, settings, make_post("g1", "Огромная яма на дороге"), utcnow() - timedelta(days=21)
            )
        restarted = create_app(
            settings.model_copy(update={"deadline_scanner_enabled": True, "deadline_scan_seconds": 0.1})
        )
        async with restarted.router.lifespan_context(restarted):
            db: Database = restarted.state.db

            async def level() -> int:
                async with db.transaction() as session:
                    current = await session.get(Incident, incident.id)
                    return current.escalation_level if current else -1

            assert await eventually(level, until=lambda n: n >= 1, timeout=10)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=restarted), base_url="http://t", auth=ServiceAuth("routing")
            ) as http:
                detail = (await http.get(f"/v1/incidents/{incident.id}")).json()
        assert detail["escalations"][0]["escalated_to_id"] == "curator"
        assert any(d["state"] == "breached" for d in detail["deadlines"])


class TestReplicas:
    async def test_two_scanners_on_postgresql_escalate_each_incident_once(
        self, postgres_url: str, settings: Settings, make_post: Any, t0: datetime, db_factory: Any
    ) -> None:
        db = await db_factory(postgres_url)
        try:
            texts = ["Яма на дороге", "Не убран снег", "Мусор во дворе", "Нет света", "Нет воды", "Шумит стройка"]
            for n, text in enumerate(texts):
                await _incident(db, settings, make_post(f"pg{n}", text), t0)
            later = t0 + timedelta(days=30)

            async def replica() -> int:
                async with db.transaction() as session:
                    return (await scan(session, settings=settings, now=later)).escalations

            counts = await asyncio.gather(replica(), replica(), replica())
            async with db.transaction() as session:
                rows = (
                    await session.exec(select(Escalation.incident_id, func.count()).group_by(Escalation.incident_id))
                ).all()
                levels = (await session.exec(select(Incident.escalation_level))).all()
            assert sum(counts) == len(rows) == len(texts)
            assert all(count == 1 for _, count in rows)
            assert set(levels) == {1}
        finally:
            await db.dispose()


class TestRoundTheClock:
    async def test_a_critical_incidents_clocks_do_not_wait_for_monday(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        """QA: children on thin ice reported on a Sunday afternoon were due Monday 13:00, 17 hours on."""
        sunday = datetime(2026, 12, 6, 15, 36, tzinfo=t0.tzinfo)
        critical = await _incident(
            db, settings, make_post("ice", "Дети на тонком льду на пруду, лёд трещит!", urgency="critical"), sunday
        )
        normal = await _incident(db, settings, make_post("pit", "Огромная яма на дороге"), sunday)
        async with db.transaction() as session:
            policy = await resolve_policy(
                session, region_code="64", category=critical.category, urgency="critical", settings=settings
            )
        assert critical.first_response_due == sunday + timedelta(hours=policy.first_reaction_hours)
        assert normal.first_response_due is not None and normal.first_response_due.weekday() == 0  # Monday
        # the final clock too: its days are whole days
        assert critical.final_due == sunday + timedelta(days=policy.final_days)

    async def test_working_hours_for_critical_when_so_configured(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        sunday = datetime(2026, 12, 6, 15, 36, tzinfo=t0.tzinfo)
        working = settings.model_copy(update={"critical_round_the_clock": False})
        critical = await _incident(
            db, working, make_post("ice2", "Дети на тонком льду, лёд трещит!", urgency="critical"), sunday
        )
        assert critical.first_response_due is not None and critical.first_response_due.weekday() == 0


class TestZonesAndStorage:
    async def test_clocks_run_in_the_assignees_own_zone(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:

        async with db.transaction() as session:
            for official_id, zone in (("roads-a", "Asia/Vladivostok"), ("roads-b", "Europe/Kaliningrad")):
                official = await session.get(Official, official_id)
                assert official is not None
                official.timezone = zone
                session.add(official)
        late = datetime(2026, 3, 2, 7, 0, tzinfo=t0.tzinfo)  # Monday: 17:00 Vladivostok, 09:00 Kaliningrad
        first = await _incident(db, settings, make_post("z1", "Огромная яма на дороге"), late)
        second = await _incident(db, settings, make_post("z2", "Не работает светофор на перекрёстке"), late)
        due = {first.assignee_id: first.first_response_due, second.assignee_id: second.first_response_due}
        assert due["roads-a"] == WorkCalendar("Asia/Vladivostok").add(late, 8 * 3600)
        assert due["roads-b"] == WorkCalendar("Europe/Kaliningrad").add(late, 8 * 3600)
        assert due["roads-b"] < due["roads-a"]  # Kaliningrad's day has only begun

    async def test_actions_and_detail_round_trip_on_both_databases(
        self, any_db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:

        incident = await _incident(any_db, settings, make_post("s1", "Огромная яма на дороге"), t0)
        steps = [
            # Posted by hand (with its link): it counts at once, as a published one does.
            (
                IncidentAction.interim_answer,
                {"reply_text": "Разбираемся", "reply_url": "https://vk.com/wall-1_5?reply=1"},
            ),
            (IncidentAction.reply, {"reply_text": "Сделано", "reply_url": "https://vk.com/wall-1_5"}),
            (IncidentAction.reopen, {}),
            (
                IncidentAction.redirect,
                {"reason": "не наше", "target_department_id": "64-health", "target_note": "поликлиника"},
            ),
        ]
        for n, (action, extra) in enumerate(steps):
            async with any_db.transaction() as session:
                await perform_action(
                    session,
                    incident_id=incident.id,
                    actor="tester",
                    request=ActionRequest(action=action, **extra),
                    settings=settings,
                    now=t0 + timedelta(hours=n + 1),
                )
        async with any_db.transaction() as session:
            detail = await incident_detail(session, incident_id=incident.id, settings=settings)
        assert detail.status == "assigned" and detail.assignee is not None
        assert detail.assignee.official_id == "health-a"
        assert detail.first_response_at == t0 + timedelta(hours=1)
        assert detail.time_to_first_response_seconds == 3600
        assert detail.redirect_chain[0]["note"] == "поликлиника"
        assert [h.action for h in detail.history][-4:] == ["interim_answer", "reply", "reopen", "assigned"]
        assert {d.state for d in detail.deadlines} >= {"met", "paused", "pending"}
        assert detail.first_response_due is not None and detail.first_response_due.tzinfo is not None
