"""The lifecycle over the HTTP contract: every allowed transition, every refused one (409), audit, events."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import delete, select

from incidents_common.db import OutboxMessage, writes_of
from incidents_common.events import IncidentAction, IncidentStatus
from routing.incidents.lifecycle import TRANSITIONS
from routing.incidents.models import Incident
from routing.incidents.writes import route_posts
from routing.wording import action_name, status_name

BODIES: dict[IncidentAction, dict[str, Any]] = {
    IncidentAction.take: {},
    IncidentAction.interim_answer: {"reply_text": "Проверим до пятницы", "reply_url": "https://vk.com/wall-1_9"},
    IncidentAction.reply: {"reply_text": "Яму заделали", "reply_url": "https://vk.com/wall-1_10"},
    IncidentAction.resolve: {},
    IncidentAction.close: {},
    IncidentAction.reject: {"reason": "спам"},
    IncidentAction.reopen: {"reason": "житель пишет снова"},
    IncidentAction.reassign: {"official_id": "roads-b"},
    IncidentAction.redirect: {"reason": "не наша компетенция", "target_department_id": "64-health"},
}


async def _new_incident(client: httpx.AsyncClient, make_post: Any, post_id: str = "p1", **kw: Any) -> str:
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.transaction() as session:
        (incident,) = await route_posts(
            writes_of(session),
            [make_post(post_id, "Огромная яма на дороге у остановки", **kw)],
            settings=client.app.state.settings,  # type: ignore[attr-defined]
        )
    assert incident is not None
    return incident.id


async def _force_status(client: httpx.AsyncClient, incident_id: str, status: str) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.transaction() as session:
        incident = await session.get(Incident, incident_id)
        assert incident is not None
        incident.status = status
        session.add(incident)


async def _act(client: httpx.AsyncClient, incident_id: str, action: IncidentAction, **extra: Any) -> httpx.Response:
    body = {"action": action.value, **BODIES[action], **extra}
    return await client.post(f"/v1/incidents/{incident_id}/actions", json=body)


async def _events(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [orjson.loads(r.payload) for r in rows]


class TestLifecycle:
    async def test_full_path_with_audit_reply_and_first_response(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _new_incident(client, make_post)
        for action, expected in [
            (IncidentAction.take, "in_progress"),
            (IncidentAction.interim_answer, "in_progress"),
            (IncidentAction.reply, "answered"),
            (IncidentAction.resolve, "resolved"),
            (IncidentAction.close, "closed"),
            (IncidentAction.reopen, "reopened"),
        ]:
            response = await _act(client, incident_id, action, comment=f"step {action.value}")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == expected
        detail = (await client.get(f"/v1/incidents/{incident_id}")).json()
        assert detail["reply"] == {"text": "Яму заделали", "url": "https://vk.com/wall-1_10"}
        assert detail["interim_answer"]["text"] == "Проверим до пятницы"
        assert detail["first_response_at"] is not None and detail["time_to_first_response_seconds"] >= 0
        steps = [(h["action"], h["from_status"], h["to_status"]) for h in detail["history"]]
        assert steps == [
            ("created", None, "new"),
            ("assigned", "new", "assigned"),
            ("take", "assigned", "in_progress"),
            ("interim_answer", "in_progress", "in_progress"),
            ("reply", "in_progress", "answered"),
            ("resolve", "answered", "resolved"),
            ("close", "resolved", "closed"),
            ("reopen", "closed", "reopened"),
        ]
        assert all(h["actor"] == "operator" for h in detail["history"][2:])  # the caller of the token
        assert detail["history"][2]["comment"] == "step take"
        # reopen restarts both clocks
        states = [(d["clock"], d["state"]) for d in detail["deadlines"]]
        assert states.count(("first_reaction", "pending")) == 1 and states.count(("final", "pending")) == 1
        changes = [e for e in await _events(client) if e["type"] == "ru.incidents.incident.status_changed"]
        assert [(e["data"]["from_status"], e["data"]["to_status"]) for e in changes] == [s[1:] for s in steps[2:]]
        assert all(e["data"]["incident"]["status"] == e["data"]["to_status"] for e in changes)
        assert all(e["originpostid"] == "p1" for e in changes)

    @pytest.mark.parametrize("status", [s.value for s in IncidentStatus])
    async def test_every_action_from_every_status(self, client: httpx.AsyncClient, make_post: Any, status: str) -> None:
        incident_id = await _new_incident(client, make_post)
        for action, (allowed, target) in TRANSITIONS.items():
            await _force_status(client, incident_id, status)
            response = await _act(client, incident_id, action)
            if status in allowed:
                assert response.status_code == 200, (action, status, response.text)
                assert response.json()["status"] == target.value
            else:
                assert response.status_code == 409, (action, status, response.text)
                problem = response.json()
                assert response.headers["content-type"].startswith("application/problem+json")
                assert problem["type"].endswith("/invalid-transition")
                assert problem["current_status"] == status
                assert problem["title"] == "Действие недоступно в текущем статусе"
                assert problem["detail"] == (
                    f"Действие «{action_name(action)}» недоступно: инцидент в статусе «{status_name(status)}»"
                )

    async def test_unknown_incident_and_bad_bodies(self, client: httpx.AsyncClient, make_post: Any) -> None:
        missing = await client.post("/v1/incidents/nope/actions", json={"action": "take"})
        assert missing.status_code == 404 and missing.json()["type"].endswith("/unknown-incident")
        incident_id = await _new_incident(client, make_post)
        for body in (
            {"action": "reject"},  # no reason
            {"action": "redirect", "reason": "не наше"},  # nowhere named
            {"action": "fly"},
            {"action": "take", "actor": "someone-else"},  # the actor is the caller, never a field
            {"action": "reassign"},
        ):
            response = await client.post(f"/v1/incidents/{incident_id}/actions", json=body)
            assert response.status_code == 422, body
            assert response.headers["content-type"].startswith("application/problem+json")
        unknown_official = await _act(client, incident_id, IncidentAction.reassign, official_id="ghost")
        assert unknown_official.status_code == 404

    async def test_reject_keeps_reason_and_stops_clocks(self, client: httpx.AsyncClient, make_post: Any) -> None:
        incident_id = await _new_incident(client, make_post)
        body = (await _act(client, incident_id, IncidentAction.reject, reason="дубликат обращения")).json()
        assert body["status"] == "rejected" and body["reject_reason"] == "дубликат обращения"
        assert {d["state"] for d in body["deadlines"]} == {"cancelled"}
        assert body["first_response_due"] is None

    async def test_reassign_records_explanation(self, client: httpx.AsyncClient, make_post: Any) -> None:
        incident_id = await _new_incident(client, make_post)
        body = (
            await _act(client, incident_id, IncidentAction.reassign, official_id="health-a", comment="по профилю")
        ).json()
        assert body["assignee"]["official_id"] == "health-a"
        assert body["assignment_explanation"] == "Переназначен пользователем operator: Сидорова В. В.; по профилю"
        first, again = [e["data"] for e in await _events(client) if e["type"] == "ru.incidents.incident.assigned"]
        assert "actor" not in first and "comment" not in first, "routing's own choice names no one"
        assert (again["actor"], again["comment"]) == ("operator", "по профилю")
        assert again["assignee"]["official_id"] == "health-a"


class TestRedirects:
    async def test_chain_kept_and_bounce_back_goes_to_curator_with_flag(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _new_incident(client, make_post)
        first = (await _act(client, incident_id, IncidentAction.redirect, target_note="это поликлиника")).json()
        assert first["assignee"]["official_id"] == "health-a" and first["status"] == "assigned"
        assert first["assignment_explanation"] == (
            "Перенаправление → министерство здравоохранения Саратовской области; "
            "наименее загружен: Сидорова В. В., открытых инцидентов: 0"
        )
        # Sent back to where it came from: the second move between the same two bodies.
        back = (
            await _act(
                client, incident_id, IncidentAction.redirect, target_department_id="64-roads", reason="это дорога"
            )
        ).json()
        assert back["flagged"] and back["assignee"]["official_id"] == "curator"
        assert back["flag_reason"] == (
            "Инцидент дважды перенаправлен между одними и теми же подразделениями: "
            "министерство здравоохранения Саратовской области ↔ "
            "министерство транспорта и дорожного хозяйства Саратовской области"
        )
        assert back["assignment_explanation"] == f"{back['flag_reason']} → куратор региона: Куратор Е. Е."
        chain = back["redirect_chain"]
        assert [(s["from_department_id"], s["to_department_id"]) for s in chain] == [
            ("64-roads", "64-health"),
            ("64-health", "64-roads"),
        ]
        assert chain[0]["note"] == "это поликлиника" and chain[1]["reason"] == "это дорога"
        # Who redirected and why travel with the assignment, as routing's own history records them.
        assigned = [e["data"] for e in await _events(client) if e["type"] == "ru.incidents.incident.assigned"]
        assert [(a.get("actor"), a.get("comment")) for a in assigned] == [
            (None, None),
            ("operator", "Перенаправлен: не наша компетенция (по компетенции: это поликлиника)"),
            ("operator", "Перенаправлен: это дорога"),
        ]
        history = [h for h in back["history"] if h["action"] == "assigned"]
        assert [h["comment"] for h in history[1:]] == [f"{a['explanation']} — {a['comment']}" for a in assigned[1:]]

    async def test_redirect_without_known_department_goes_to_curator(
        self, client: httpx.AsyncClient, make_post: Any
    ) -> None:
        incident_id = await _new_incident(client, make_post)
        body = (
            await client.post(
                f"/v1/incidents/{incident_id}/actions",
                json={"action": "redirect", "reason": "федеральная трасса", "target_note": "Росавтодор"},
            )
        ).json()
        assert body["assignee"]["official_id"] == "curator" and body["flagged"]
        assert body["flag_reason"] == "Перенаправлен в орган, которого нет в справочнике: Росавтодор"
        assert body["history"][-1]["comment"] == (
            f"{body['assignment_explanation']} — Перенаправлен: федеральная трасса (по компетенции: Росавтодор)"
        )
        unknown = await _act(client, incident_id, IncidentAction.redirect, target_department_id="ghost")
        assert unknown.status_code == 404
        assert unknown.json()["title"] == "Подразделение не найдено"
        assert unknown.json()["detail"] == "Подразделение 'ghost' не найдено в регионе 64"


class TestIncidentList:
    async def test_filters_and_pages(self, client: httpx.AsyncClient, make_post: Any) -> None:
        await _new_incident(client, make_post, "a1")
        await _new_incident(client, make_post, "a2", category="healthcare")
        await _new_incident(client, make_post, "a3", region="63", city="Тольятти")
        db = client.app.state.db  # type: ignore[attr-defined]
        async with db.transaction() as session:
            await session.exec(delete(OutboxMessage))  # type: ignore[call-overload]
        all_ = (await client.get("/v1/incidents", params={"limit": 2})).json()
        assert all_["total"] == 3 and len(all_["items"]) == 2
        rest = (await client.get("/v1/incidents", params={"limit": 2, "offset": 2})).json()
        assert len(rest["items"]) == 1
        assert (await client.get("/v1/incidents", params={"region": "63"})).json()["total"] == 1
        assert (await client.get("/v1/incidents", params={"category": "healthcare"})).json()["total"] == 1
        assert (await client.get("/v1/incidents", params={"status": "assigned"})).json()["total"] == 3
        assert (await client.get("/v1/incidents", params={"status": "closed"})).json()["total"] == 0
        assert (await client.get("/v1/incidents", params={"status": "bogus"})).status_code == 422
        assert (await client.get("/v1/incidents/nope")).status_code == 404
