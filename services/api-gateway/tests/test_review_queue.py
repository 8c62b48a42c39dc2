"""The review queue (issue 13): incidents awaiting an operator's decision on their classification.

The read model keeps each snapshot's needs_review, reasons, possibly_critical and danger; the list
filters on them; GET /v1/review-queue lists a caller's regions only (tried from outside with another
region's credentials), possibly critical first, with counts per region. The `correct` action goes
through the incident actions to the real routing app, and routing's events empty the queue again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlmodel import col, select

from api_gateway.auth.principal import Role
from api_gateway.testing import Gateway, serve
from incidents_common.db import OutboxMessage
from incidents_common.events import (
    ClassificationValues,
    IncidentCorrected,
    IncidentEvent,
    IncidentSnapshot,
    IncidentStatus,
    PostClassified,
    ReviewReason,
    Urgency,
    decode_event,
)
from incidents_common.testing import T0, incident_snapshot, post_classified
from routing.config import Settings as RoutingSettings
from routing.directory.service import import_directory
from routing.incidents.snapshots import snapshot as routing_snapshot
from routing.incidents.writes import route_posts
from routing.main import create_app as create_routing

DANGER = ReviewReason(field="danger", confidence=0.42, detail="возможна угроза жизни: вероятность 0.42")
REGION = ReviewReason(field="region", confidence=0.35, detail="регион под вопросом: уверенность 0.35")
PROBLEM = "application/problem+json"


def flagged(snap: IncidentSnapshot, *reasons: ReviewReason, danger: float | None = None) -> IncidentSnapshot:
    """The snapshot routing sends for an incident awaiting review (possibly critical with a danger reason)."""
    return snap.model_copy(
        update={
            "needs_review": True,
            "review_reasons": list(reasons),
            "possibly_critical": any(r.field == "danger" for r in reasons),
            "danger": danger,
        }
    )


async def queue_world(gw: Gateway) -> None:
    """Saratov: two possibly critical (danger 0.42 and 0.61), one region doubt (older), one answered
    (not correctable), one unflagged; Moscow: one possibly critical."""
    await gw.create(flagged(incident_snapshot("inc-64-ice", title="Дети на льду"), DANGER, danger=0.42))
    await gw.create(flagged(incident_snapshot("inc-64-roof", title="Дети на крыше"), DANGER, danger=0.61))
    await gw.create(flagged(incident_snapshot("inc-64-where", created_at=T0 - timedelta(days=1)), REGION, danger=0.02))
    answered = incident_snapshot("inc-64-answered", status=IncidentStatus.answered)
    await gw.create(flagged(answered, REGION, danger=0.1))
    await gw.create(incident_snapshot("inc-64-plain"))
    moscow = incident_snapshot("inc-77-ice", region="77", city="Москва", official="off-77-1")
    await gw.create(flagged(moscow, DANGER, danger=0.5))


async def bearer(gw: Gateway, role: Role, regions: list[str]) -> dict[str, str]:
    """An OAuth2 access token of a client, obtained as a portal would."""
    client_id, secret = await gw.client_credentials(role, regions)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    token = (await gw.client.post("/v1/oauth/token", data=form)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class TestReadModel:
    async def test_snapshots_carry_the_review_and_the_list_filters_on_it(self, gw: Gateway) -> None:
        await queue_world(gw)
        headers = gw.headers("admin64")
        flagged_ids = {
            i["incident_id"]
            for i in (await gw.client.get("/v1/incidents", params={"needs_review": "true"}, headers=headers)).json()[
                "items"
            ]
        }
        assert flagged_ids == {"inc-64-ice", "inc-64-roof", "inc-64-where", "inc-64-answered"}
        others = (await gw.client.get("/v1/incidents", params={"needs_review": "false"}, headers=headers)).json()
        assert [i["incident_id"] for i in others["items"]] == ["inc-64-plain"]
        detail = (await gw.client.get("/v1/incidents/inc-64-ice", headers=headers)).json()
        assert (detail["needs_review"], detail["possibly_critical"], detail["danger"]) == (True, True, 0.42)
        assert detail["review_reasons"] == [DANGER.model_dump(mode="json")]
        bad = await gw.client.get("/v1/incidents", params={"needs_review": "perhaps"}, headers=headers)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)

    async def test_the_operators_decision_leaves_the_queue_and_the_history_names_them(self, gw: Gateway) -> None:
        snap = flagged(incident_snapshot("inc-64-ice"), DANGER, danger=0.42)
        await gw.create(snap)
        decided = snap.model_copy(
            update={
                "needs_review": False,
                "review_reasons": [],
                "possibly_critical": False,
                "urgency": Urgency.critical,
                "revision": 5,
                "updated_at": T0 + timedelta(minutes=5),
            }
        )
        await gw.feed(
            IncidentCorrected(
                incident=decided,
                actor="key:admin64",
                corrected=ClassificationValues(urgency=Urgency.critical),
                previous=ClassificationValues(is_incident=True, category="roads", urgency=Urgency.normal),
                review_reasons=[DANGER],
                comment="Угроза подтверждена",
            )
        )
        headers = gw.headers("admin64")
        queue = (await gw.client.get("/v1/review-queue", headers=headers)).json()
        assert queue["items"] == [] and queue["total"] == 0
        detail = (await gw.client.get("/v1/incidents/inc-64-ice", headers=headers)).json()
        assert (detail["needs_review"], detail["urgency"]) == (False, "critical")
        entry = detail["history"][-1]
        assert (entry["type"], entry["actor"]) == ("incident.corrected", "key:admin64")
        assert entry["detail"]["corrected"] == {"urgency": "critical"}
        assert entry["detail"]["previous"]["urgency"] == "normal"


class TestReviewQueue:
    async def test_possibly_critical_first_then_danger_then_the_longest_waiting_with_counts(self, gw: Gateway) -> None:
        await queue_world(gw)
        response = await gw.client.get("/v1/review-queue", headers=gw.headers("admin64"))
        assert response.status_code == 200, response.text
        queue = response.json()
        assert [i["incident_id"] for i in queue["items"]] == ["inc-64-roof", "inc-64-ice", "inc-64-where"]
        assert queue["items"][0]["review_reasons"][0]["detail"].startswith("возможна угроза жизни")
        assert queue["regions"] == [
            {"region_code": "64", "region_name": "Саратовская область", "awaiting_review": 3, "possibly_critical": 2}
        ]
        assert queue["total"] == 3
        page = await gw.client.get("/v1/review-queue", params={"limit": 1, "offset": 1}, headers=gw.headers("admin64"))
        assert [i["incident_id"] for i in page.json()["items"]] == ["inc-64-ice"]
        assert page.json()["total"] == 3
        federal = (await gw.client.get("/v1/review-queue", headers=gw.headers("federal"))).json()
        assert [(r["region_code"], r["awaiting_review"]) for r in federal["regions"]] == [("64", 3), ("77", 1)]
        assert federal["items"][0]["incident_id"] == "inc-64-roof" and federal["total"] == 4

    async def test_another_regions_credentials_see_nothing_of_it(self, gw: Gateway) -> None:
        await queue_world(gw)
        for headers in (gw.headers("admin77"), await bearer(gw, Role.integration, ["77"])):
            for params in ({}, {"region": "64"}, {"region": ["64", "77"]}):
                response = await gw.client.get("/v1/review-queue", params=params, headers=headers)
                assert response.status_code == 200, response.text
                body = response.text
                assert "inc-64" not in body and "Саратов" not in body, (params, body)
            mine = (await gw.client.get("/v1/review-queue", headers=headers)).json()
            assert [i["incident_id"] for i in mine["items"]] == ["inc-77-ice"]
            assert mine["regions"] == [
                {"region_code": "77", "region_name": "Москва", "awaiting_review": 1, "possibly_critical": 1}
            ]
        # A region's user sees its regions even when nothing waits there.
        empty = await bearer(gw, Role.regional_admin, ["63"])
        assert (await gw.client.get("/v1/review-queue", headers=empty)).json()["regions"] == [
            {"region_code": "63", "region_name": "Самарская область", "awaiting_review": 0, "possibly_critical": 0}
        ]
        refused = await gw.client.get("/v1/review-queue")
        assert refused.status_code == 401 and refused.headers["content-type"].startswith(PROBLEM)
        forged = await gw.client.get("/v1/review-queue", headers={"Authorization": "Bearer a.b.c"})
        assert forged.status_code == 401

    async def test_bad_paging_is_a_problem(self, gw: Gateway) -> None:
        for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"region": "Saratov"}):
            response = await gw.client.get("/v1/review-queue", params=params, headers=gw.headers("admin64"))
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)


# -- the correct action, through the gateway to the real routing ---------------------------------

DIRECTORY: dict[str, Any] = {
    "departments": [
        {"id": "dep-64-roads", "region_code": "64", "name": "Комитет дорожного хозяйства г. Саратова"},
        {"id": "dep-64-safety", "region_code": "64", "name": "Комитет по безопасности Саратовской области"},
    ],
    "officials": [
        {"id": "off-64-1", "region_code": "64", "department_id": "dep-64-roads", "name": "Петров"},
        {"id": "off-64-2", "region_code": "64", "department_id": "dep-64-safety", "name": "Сидорова"},
    ],
    "rules": [
        {"priority": 10, "region_code": "64", "category": "roads", "department_id": "dep-64-roads"},
        {"priority": 10, "region_code": "64", "category": "safety", "department_id": "dep-64-safety"},
    ],
    "sla_policies": [
        {"first_reaction_hours": 8, "interim_days": 7, "final_days": 10},
        {"urgency": "critical", "first_reaction_hours": 4, "interim_days": 5, "final_days": 3},
    ],
}


@contextlib.asynccontextmanager
async def real_routing(tmp_path: Path) -> AsyncIterator[tuple[str, FastAPI]]:
    app = create_routing(
        RoutingSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}",
            nats_enabled=False,
            seed_demo=False,
            deadline_scanner_enabled=False,
            log_json=False,
        )
    )
    async with serve(app) as url:
        async with app.state.db.transaction() as session:
            await import_directory(session, document=DIRECTORY)
        yield url, app


def possibly_critical_post(post_id: str) -> PostClassified:
    post = post_classified(post_id, "Дети катаются на льду у берега, лёд трещит")
    classification = post.classification.model_copy(
        update={"needs_review": True, "review_reasons": [DANGER], "danger": 0.42}
    )
    return post.model_copy(update={"classification": classification})


async def routing_events(app: FastAPI) -> list[IncidentEvent]:
    async with app.state.db.transaction() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    events = [decode_event(row.payload) for row in rows]
    return [e.data for e in events if isinstance(e.data, IncidentEvent)]


class TestCorrectThroughTheGateway:
    async def test_the_correct_action_reaches_routing_and_its_events_empty_the_queue(
        self, make_gateway: Any, tmp_path: Path
    ) -> None:
        async with real_routing(tmp_path) as (url, routing_app), make_gateway(routing_url=url) as gw:
            async with routing_app.state.db.transaction() as session:
                (incident,) = await route_posts(
                    session.writes, [possibly_critical_post("ice")], settings=routing_app.state.settings
                )
                assert incident is not None
                snap = routing_snapshot(incident)
            assert snap.possibly_critical and snap.needs_review
            await gw.feed(*await routing_events(routing_app))
            headers = gw.headers("admin64")
            queue = (await gw.client.get("/v1/review-queue", headers=headers)).json()
            assert [i["incident_id"] for i in queue["items"]] == [incident.id]
            assert queue["items"][0]["possibly_critical"]
            path = f"/v1/incidents/{incident.id}/actions"

            # Officials work on incidents; they do not judge the classifier (refused at the gateway).
            official = await gw.client.post(
                path, json={"action": "correct", "urgency": "normal"}, headers=gw.headers("official64")
            )
            assert official.status_code == 403 and official.headers["content-type"].startswith(PROBLEM)
            for body in (
                {"action": "correct"},
                {"action": "correct", "region_code": "00"},
                {"action": "correct", "urgency": "apocalyptic"},
                {"action": "correct", "category": "unicorns"},
                {"action": "take", "category": "roads"},
            ):
                bad = await gw.client.post(path, json=body, headers=headers)
                assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM), body

            body = {"action": "correct", "urgency": "critical", "category": "safety", "comment": "Угроза подтверждена"}
            response = await gw.client.post(path, json=body, headers=headers)
            assert response.status_code == 200, response.text
            result = response.json()
            assert (result["urgency"], result["category"], result["needs_review"]) == ("critical", "safety", False)
            assert result["assignee"]["official_id"] == "off-64-2", "moved by the rules of the corrected category"
            last = [h for h in result["history"] if h["action"] == "correct"][-1]
            assert last["actor"] == "key:" + next(
                k["key_id"]
                for k in (await gw.client.get("/v1/admin/keys", headers=headers)).json()
                if k["role"] == "regional_admin"
            )

            await gw.feed(*await routing_events(routing_app))
            queue = (await gw.client.get("/v1/review-queue", headers=headers)).json()
            assert queue["items"] == [] and queue["regions"][0]["awaiting_review"] == 0
            detail = (await gw.client.get(f"/v1/incidents/{incident.id}", headers=headers)).json()
            assert (detail["urgency"], detail["category"], detail["possibly_critical"]) == ("critical", "safety", False)
            assert "incident.corrected" in [h["type"] for h in detail["history"]]
