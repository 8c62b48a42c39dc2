"""The human in the loop (issue 13): a possibly-critical post runs on the critical clock until an
operator decides, and the operator's `correct` action becomes classifier feedback.

Classified posts are built by hand with the review fields the classifier sets (`needs_review`, a
`danger` reason); clocks are compared with those of a critical, a high and a normal incident opened at
the same moment, on the small directory's policies (default 8 h / 10 days, critical 4 h / 3 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, delete, select

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.events import (
    Classification,
    IncidentAction,
    PostClassified,
    ReviewReason,
    decode_event,
)
from incidents_common.identity import ActingUser
from routing.config import Settings
from routing.deadlines.calendar import WorkCalendar
from routing.deadlines.models import Clock, Deadline, DeadlineState
from routing.incidents.lifecycle import perform_action
from routing.incidents.models import Incident
from routing.incidents.review import merge_reasons
from routing.incidents.schemas import ActionRequest
from routing.incidents.snapshots import IncidentRecord
from routing.incidents.writes import route_posts

from .conftest import Users

SARATOV = WorkCalendar("Europe/Saratov")
DANGER = ReviewReason(field="danger", confidence=0.42, detail="возможна угроза жизни: вероятность 0.42")
CATEGORY = ReviewReason(field="category", confidence=0.31, detail="категория под вопросом: уверенность 0.31")
ICE = "Дети катаются на льду у берега, лёд уже трещит, а рядом никого нет"


def reviewed(post: PostClassified, *reasons: ReviewReason, danger: float | None = 0.42) -> PostClassified:
    """`post` as the classifier sends a grey-zone one: needs_review with its reasons and the danger figure."""
    classification: Classification = post.classification.model_copy(
        update={"needs_review": True, "review_reasons": list(reasons), "danger": danger}
    )
    return post.model_copy(update={"classification": classification})


async def route(db: Database, settings: Settings, *posts: PostClassified, now: datetime) -> list[IncidentRecord | None]:
    async with db.transaction() as session:
        return await route_posts(writes_of(session), list(posts), settings=settings, now=now)


async def load(db: Database, incident_id: str) -> Incident:
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        return incident


async def pending(db: Database, incident_id: str) -> list[Deadline]:
    async with db.transaction() as session:
        rows = await session.exec(
            select(Deadline).where(Deadline.incident_id == incident_id, Deadline.state == DeadlineState.pending)
        )
        return list(rows.all())


async def outbox(db: Database) -> list[Any]:
    """The events queued so far, decoded, oldest first."""
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [decode_event(row.payload) for row in rows]


async def outbox_subjects(db: Database) -> list[tuple[str, Any]]:
    """(subject, event) of the events queued so far, oldest first."""
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [(row.subject, decode_event(row.payload)) for row in rows]


async def clear_outbox(db: Database) -> None:
    async with db.transaction() as session:
        await session.exec(delete(OutboxMessage))  # type: ignore[call-overload]


class TestCriticalClock:
    async def test_a_possibly_critical_post_gets_the_critical_clock_and_the_queue(
        self, any_db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (possibly,) = await route(any_db, settings, reviewed(make_post("ice", ICE, urgency="high"), DANGER), now=t0)
        (critical,) = await route(any_db, settings, make_post("crit", ICE + "!", urgency="critical"), now=t0)
        (high,) = await route(any_db, settings, make_post("high", "Яма на Ленина, объезжать негде"), now=t0)
        assert possibly is not None and critical is not None and high is not None
        # The deadlines a critical incident gets, not those of its classified urgency.
        # (the critical clocks run round the clock: 4 hours, 3 whole days)
        assert possibly.first_response_due == critical.first_response_due == t0 + timedelta(hours=4)
        assert possibly.final_due == critical.final_due == t0 + timedelta(days=3)
        assert high.first_response_due == SARATOV.add(t0, 8 * 3600) != possibly.first_response_due
        stored = await load(any_db, possibly.id)
        assert stored.urgency == "high", "the classifier's urgency stays until an operator decides"
        assert (stored.needs_review, stored.possibly_critical, stored.danger) == (True, True, 0.42)
        assert stored.review_reasons == [DANGER.model_dump(mode="json")]
        assert {d.policy for d in await pending(any_db, possibly.id)} == {"Политика SLA 2 (срочность «критическая»)"}
        assert not (await load(any_db, high.id)).needs_review
        created = next(
            e for e in await outbox(any_db) if e.type.endswith("incident.created") and e.data.post_id == "ice"
        )
        snap = created.data.incident
        assert snap.needs_review and snap.possibly_critical and snap.review_reasons == [DANGER]
        assert snap.urgency == "high" and snap.danger == 0.42

    async def test_a_grey_zone_without_danger_queues_without_the_critical_clock(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (incident,) = await route(db, settings, reviewed(make_post("cat", "Яма", urgency="normal"), CATEGORY), now=t0)
        assert incident is not None
        assert incident.needs_review and not incident.possibly_critical
        assert incident.first_response_due == SARATOV.add(t0, 8 * 3600)

    async def test_a_danger_reason_joining_a_running_incident_restarts_its_clocks_on_the_critical_policy(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (incident,) = await route(db, settings, make_post("j1", "Огромная яма на дороге у остановки"), now=t0)
        assert incident is not None
        later = t0 + timedelta(hours=2)
        joining = reviewed(make_post("j2", "Огромная яма на дороге у остановки, ребёнок упал в неё"), DANGER)
        (joined,) = await route(db, settings, joining, now=later)
        assert joined is not None and joined.id == incident.id
        stored = await load(db, incident.id)
        assert stored.possibly_critical and stored.needs_review and stored.post_ids == ["j1", "j2"]
        assert stored.first_response_due == SARATOV.add(later, 4 * 3600)
        running = await pending(db, incident.id)
        assert sorted(d.clock for d in running) == [Clock.final, Clock.first_reaction]
        assert all(d.started_at == later for d in running), "the old clocks are cancelled, not left running"

    async def test_the_actions_that_restart_clocks_keep_the_critical_policy_until_decided(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        incident_id = await possibly_critical(client, make_post, t0)
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        path = f"/v1/incidents/{incident_id}/actions"
        interim = {
            "action": "interim_answer",
            "reply_text": "Выехали на место",
            "reply_url": "https://vk.com/wall-1_2?reply=3",
        }
        assert (await client.post(path, json=interim)).status_code == 200
        (final,) = await pending(db, incident_id)
        assert final.policy == "Политика SLA 2 (срочность «критическая»), после промежуточного ответа"
        # the critical clock: its days are whole days, round the clock
        assert final.working_seconds == 5 * 86_400, "the critical policy's interim budget"
        for body in (
            {"action": "reply", "reply_text": "Лёд огородили"},
            {"action": "reopen", "reason": "Снова на льду"},
        ):
            assert (await client.post(path, json=body)).status_code == 200, body
        assert {d.policy for d in await pending(db, incident_id)} == {"Политика SLA 2 (срочность «критическая»)"}

    def test_reasons_merge_one_per_field_keeping_the_most_alarming(self) -> None:
        low = DANGER.model_dump(mode="json")
        high = {**low, "confidence": 0.61}
        unsure = CATEGORY.model_dump(mode="json")
        surer = {**unsure, "confidence": 0.45}
        assert merge_reasons([low, surer], [high, unsure]) == [high, unsure]


# -- the correct action over routing's HTTP contract ----------------------------------------------

ADMIN64 = ActingUser("key:admin64", "regional_admin", frozenset({"64"}))
OFFICIAL = ActingUser("key:roads-a", "official", frozenset({"64"}), official_id="roads-a")


@pytest.fixture
def as_user(users: Users) -> Users:
    """A client signed as the gateway acting for a user (the shared `users` fixture)."""
    return users


async def possibly_critical(client: httpx.AsyncClient, make_post: Any, now: datetime) -> str:
    """An incident opened by a possibly-critical post and joined by a second post (two posts: two feedbacks)."""
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    first = reviewed(make_post("ice-1", ICE, urgency="high", category="roads"), DANGER)
    second = make_post("ice-2", ICE + " Срочно!", urgency="normal", category="roads")
    incident, again = await route(db, settings, first, second, now=now)
    assert incident is not None and again is not None and again.id == incident.id
    await clear_outbox(db)
    return incident.id


def corrections(events: list[Any]) -> dict[str, Any]:
    return {e.data.post_id: e for e in events if e.type == "ru.incidents.classification.corrected"}


class TestCorrect:
    async def test_urgency_recomputes_the_deadlines_from_creation_clears_the_flag_and_becomes_feedback(
        self, client: httpx.AsyncClient, as_user: Any, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        incident_id = await possibly_critical(client, make_post, t0)
        assert (await load(db, incident_id)).first_response_due == SARATOV.add(t0, 4 * 3600)
        before = (await load(db, incident_id)).priority
        assert before is not None and before["parts"][0]["factor"] == 100  # possibly critical counts as critical
        body = {"action": "correct", "urgency": "normal", "comment": "Лёд у берега толстый, угрозы нет"}
        response = await as_user(ADMIN64).post(f"/v1/incidents/{incident_id}/actions", json=body)
        assert response.status_code == 200, response.text
        detail = response.json()
        assert (detail["urgency"], detail["needs_review"], detail["possibly_critical"]) == ("normal", False, False)
        assert detail["review_reasons"] == []
        # The normal policy, counted from the incident's creation (not from the correction).
        assert datetime.fromisoformat(detail["first_response_due"]) == SARATOV.add(t0, 8 * 3600)
        stored = await load(db, incident_id)
        assert stored.first_response_due == SARATOV.add(t0, 8 * 3600)
        assert stored.final_due == SARATOV.add_days(t0, 10)
        running = await pending(db, incident_id)
        assert len(running) == 2 and all(d.started_at == t0 for d in running)
        assert {d.policy for d in running} == {"Политика SLA 1 (для всех инцидентов), исправлено оператором"}
        last = detail["history"][-1]
        assert (last["action"], last["actor"]) == ("correct", "key:admin64")
        assert last["comment"] == (
            "Классификация исправлена: срочность: высокая → обычная — Лёд у берега толстый, угрозы нет"
        )

        events = await outbox(db)
        (corrected,) = [e for e in events if e.type == "ru.incidents.incident.corrected"]
        assert corrected.data.actor == "key:admin64"
        assert not corrected.data.incident.needs_review and corrected.data.review_reasons == [DANGER]
        # The priority on the normal base, its measurements (reach, velocity, coordination) as they were.
        after = corrected.data.incident.priority
        assert after is not None and after.parts[0].factor == 10
        assert [p.model_dump() for p in after.parts[1:]] == before["parts"][1:]
        assert after.score == round(before["score"] / 10, 1)
        feedback = corrections(events)
        assert sorted(feedback) == ["ice-1", "ice-2"], "one ClassificationCorrected per post of the incident"
        first = feedback["ice-1"].data
        assert first.text == ICE and first.incident_id == incident_id and first.operator == "key:admin64"
        assert first.corrected.stated() == ["urgency"] and first.corrected.urgency == "normal"
        assert (first.previous.urgency, first.previous.category, first.previous.region_code) == ("high", "roads", "64")
        assert first.danger == 0.42 and first.review_reasons == [DANGER] and first.model_version == "test"
        assert feedback["ice-2"].data.previous.urgency == "normal", "each post's own classification"
        assert first.corrected_at.tzinfo is not None
        async with db.transaction() as session:
            subjects = {
                row.event_id: row.subject
                for row in (await session.exec(select(OutboxMessage))).all()  # type: ignore[call-overload]
            }
        assert subjects[feedback["ice-1"].id] == "incidents.v1.classification.corrected.64"
        assert subjects[corrected.id] == "incidents.v1.incident.corrected.64"
        assert feedback["ice-1"].originpostid == "ice-1"

    async def test_confirming_critical_keeps_the_critical_clock_and_counts_as_a_correction(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        incident_id = await possibly_critical(client, make_post, t0)
        body = {"action": "correct", "urgency": "critical"}
        response = await client.post(f"/v1/incidents/{incident_id}/actions", json=body)
        assert response.status_code == 200, response.text
        stored = await load(db, incident_id)
        assert (stored.urgency, stored.possibly_critical, stored.needs_review) == ("critical", False, False)
        assert stored.first_response_due == SARATOV.add(t0, 4 * 3600)
        feedback = corrections(await outbox(db))
        assert feedback["ice-1"].data.corrected.urgency == "critical"
        assert feedback["ice-1"].data.previous.urgency == "high"
        assert feedback["ice-1"].data.operator == "operator"

    async def test_not_a_complaint_rejects_and_stops_the_clocks(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        incident_id = await possibly_critical(client, make_post, t0)
        body = {"action": "correct", "is_incident": False, "comment": "Это стихотворение"}
        response = await client.post(f"/v1/incidents/{incident_id}/actions", json=body)
        assert response.status_code == 200, response.text
        detail = response.json()
        assert detail["status"] == "rejected" and not detail["needs_review"]
        assert detail["reject_reason"] == "Не является жалобой (решение оператора): Это стихотворение"
        assert await pending(db, incident_id) == []
        events = await outbox(db)
        changed = [e for e in events if e.type == "ru.incidents.incident.status_changed"]
        assert [(e.data.from_status, e.data.to_status) for e in changed] == [("assigned", "rejected")]
        feedback = corrections(events)
        assert sorted(feedback) == ["ice-1", "ice-2"]
        assert feedback["ice-2"].data.corrected.is_incident is False
        assert feedback["ice-2"].data.corrected.stated() == ["is_incident"]
        # Rejected: nothing left to correct.
        again = await client.post(f"/v1/incidents/{incident_id}/actions", json={"action": "correct", "urgency": "high"})
        assert again.status_code == 409 and again.json()["type"].endswith("/invalid-transition")

    async def test_category_moves_the_incident_by_the_rules_and_keeps_its_clocks(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
        post = reviewed(make_post("misfiled", "В поликлинике нет записи к врачу"), CATEGORY, danger=0.05)
        (incident,) = await route(db, settings, post, now=t0)
        assert incident is not None and incident.assignee_id in ("roads-a", "roads-b")
        due = incident.first_response_due
        await clear_outbox(db)
        body = {"action": "correct", "category": "healthcare"}
        response = await client.post(f"/v1/incidents/{incident.id}/actions", json=body)
        assert response.status_code == 200, response.text
        detail = response.json()
        assert detail["category"] == "healthcare" and detail["assignee"]["official_id"] == "health-a"
        assert detail["redirect_chain"][-1]["to_department_id"] == "64-health"
        assert (await load(db, incident.id)).first_response_due == due, "the same urgency: the clocks run on"
        events = await outbox(db)
        assert [e.type.rsplit(".", 1)[-1] for e in events if ".incident." in e.type] == ["assigned", "corrected"]
        feedback = corrections(events)["misfiled"].data
        assert (feedback.previous.category, feedback.corrected.category) == ("roads", "healthcare")

    async def test_region_moves_the_incident_to_the_other_region(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
        (incident,) = await route(db, settings, make_post("moscow", "Яма на Тверской улице"), now=t0)
        assert incident is not None
        await clear_outbox(db)
        response = await client.post(
            f"/v1/incidents/{incident.id}/actions", json={"action": "correct", "region_code": "77"}
        )
        assert response.status_code == 200, response.text
        detail = response.json()
        assert (detail["region_code"], detail["region_name"], detail["city"]) == ("77", "Москва", None)
        assert detail["federal_fallback"], "Moscow has no directory here: the federal queue"
        events = await outbox(db)
        assert corrections(events)["moscow"].data.region_code == "64", "published where the operator acted"
        assert next(e for e in events if e.type.endswith("incident.corrected")).data.incident.region_code == "77"

        # The new region reads the move on its subjects; the region it left is told on its own.
        published = [(subject, e) for subject, e in await outbox_subjects(db) if ".incident." in subject]
        assert [subject for subject, _ in published] == [
            "incidents.v1.incident.assigned.77",
            "incidents.v1.incident.corrected.77",
            "incidents.v1.incident.moved_out.64",
        ]
        assigned, corrected, moved = (e for _, e in published)
        assert moved.type == "ru.incidents.incident.moved_out"
        assert (moved.data.from_region_code, moved.data.to_region_code) == ("64", "77")
        assert (moved.data.actor, moved.data.comment) == ("operator", None)
        # The snapshot after the move, as the new region's events carry it; an event of its own (its id
        # is the JetStream de-duplication id: a copy of the correction's would be dropped).
        assert moved.data.incident == corrected.data.incident and moved.data.incident.region_code == "77"
        assert len({assigned.id, corrected.id, moved.id}) == 3
        assert corrected.data.previous.region_code == "64" and corrected.data.corrected.region_code == "77"
        # A person moved it: the assignment in the new region names them and why.
        assert assigned.data.actor == "operator"
        assert assigned.data.comment == "Классификация исправлена: регион: 64 (Саратовская область) → 77 (Москва)"

    async def test_a_correction_within_the_region_tells_no_other_region(
        self, client: httpx.AsyncClient, make_post: Any, t0: datetime
    ) -> None:
        db: Database = client.app.state.db  # type: ignore[attr-defined]
        incident_id = await possibly_critical(client, make_post, t0)
        body = {"action": "correct", "region_code": "64", "category": "healthcare", "comment": "это поликлиника"}
        response = await client.post(f"/v1/incidents/{incident_id}/actions", json=body)
        assert response.status_code == 200, response.text
        subjects = [subject for subject, _ in await outbox_subjects(db) if ".incident." in subject]
        assert subjects == ["incidents.v1.incident.assigned.64", "incidents.v1.incident.corrected.64"]

    async def test_bad_corrections_are_problems(
        self, client: httpx.AsyncClient, as_user: Any, make_post: Any, t0: datetime
    ) -> None:
        incident_id = await possibly_critical(client, make_post, t0)
        path = f"/v1/incidents/{incident_id}/actions"
        for body in (
            {"action": "correct"},
            {"action": "correct", "comment": "только комментарий"},
            {"action": "correct", "region_code": "00"},
            {"action": "correct", "urgency": "apocalyptic"},
            {"action": "correct", "category": "Дороги"},
            {"action": "correct", "category": "unicorns"},  # the shape of a category, but none the classifier has
            {"action": "take", "urgency": "critical"},
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        refused = await as_user(OFFICIAL).post(path, json={"action": "correct", "urgency": "normal"})
        assert refused.status_code == 403, "officials act on their incidents but do not judge the classifier"
        assert (await load(client.app.state.db, incident_id)).needs_review  # type: ignore[attr-defined]

    async def test_a_direct_call_is_the_same_transaction_as_its_events(
        self, db: Database, settings: Settings, make_post: Any, t0: datetime
    ) -> None:
        (incident,) = await route(db, settings, reviewed(make_post("tx", ICE, urgency="high"), DANGER), now=t0)
        assert incident is not None
        await clear_outbox(db)
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                request = ActionRequest(action=IncidentAction.correct, urgency="normal")  # type: ignore[arg-type]
                await perform_action(
                    session, incident_id=incident.id, request=request, actor="key:admin64", settings=settings
                )
                raise RuntimeError("the commit fails")
        assert await outbox(db) == [] and (await load(db, incident.id)).needs_review
