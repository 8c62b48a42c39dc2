"""The read model: events in any order, stale snapshots, posts before/after incidents, real NATS."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from api_gateway.models import Incident
from api_gateway.testing import T0, Gateway, classified, gateway_settings, running, snapshot
from incidents_common.db import Database, publish
from incidents_common.events import (
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentStatus,
    IncidentStatusChanged,
)
from incidents_common.nats import EventRuntime
from incidents_common.testing import eventually


class TestSnapshots:
    async def test_an_older_snapshot_never_rolls_the_incident_back(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            newer = snapshot("inc-1", status=IncidentStatus.in_progress, updated_at=T0 + timedelta(hours=2))
            older = snapshot("inc-1", status=IncidentStatus.assigned, updated_at=T0 + timedelta(hours=1))
            await gw.feed(
                IncidentStatusChanged(
                    incident=newer,
                    from_status=IncidentStatus.assigned,
                    to_status=IncidentStatus.in_progress,
                    actor="off-64-1",
                )
            )
            await gw.feed(IncidentCreated(incident=older, post_id="post-inc-1"))
            detail = (await gw.client.get("/v1/incidents/inc-1", headers=gw.headers("federal"))).json()
            assert detail["status"] == "in_progress"
            assert sorted(h["type"] for h in detail["history"]) == ["incident.created", "incident.status_changed"]
            changed = next(h for h in detail["history"] if h["type"] == "incident.status_changed")
            assert (changed["actor"], changed["from_status"], changed["to_status"]) == (
                "off-64-1",
                "assigned",
                "in_progress",
            )

    async def test_post_arriving_before_or_after_the_incident_is_shown_and_searchable(self, gw: Gateway) -> None:
        await gw.feed(classified("p-early", "Огромная яма возле подъезда, пробили колёса"))
        await gw.create(snapshot("inc-2", post_ids=["p-early", "p-late"], title="Дорога", summary="Жалоба"))
        await gw.feed(classified("p-late", "Во дворе не убирают снег уже неделю"))
        detail = (await gw.client.get("/v1/incidents/inc-2", headers=gw.headers("admin64"))).json()
        assert [p["post_id"] for p in detail["posts"]] == ["p-early", "p-late"]
        evidence = detail["posts"][0]["classification"]["incident"]["evidence"]
        assert evidence == ["пробили колёса"]
        assert detail["assignment_explanation"].startswith("Правило")
        for query in ("снега", "подъезды", "колесо"):
            page = (await gw.client.get("/v1/incidents", params={"q": query}, headers=gw.headers("admin64"))).json()
            assert [i["incident_id"] for i in page["items"]] == ["inc-2"], query

    async def test_an_older_post_version_does_not_replace_a_newer_one(self, gw: Gateway) -> None:
        await gw.feed(classified("p-1", "исправленный текст", version=2))
        await gw.feed(classified("p-1", "первый текст", version=1))
        await gw.create(snapshot("inc-3", post_ids=["p-1"]))
        detail = (await gw.client.get("/v1/incidents/inc-3", headers=gw.headers("federal"))).json()
        assert detail["posts"][0]["text"] == "исправленный текст"
        assert detail["posts"][0]["version"] == 2

    async def test_one_batch_with_several_events_of_one_new_incident(self, gw: Gateway) -> None:
        created = snapshot("inc-b", status=IncidentStatus.new, official=None, post_ids=["p-b"])
        assigned = snapshot("inc-b", post_ids=["p-b", "p-c"], updated_at=T0 + timedelta(minutes=1))
        await gw.feed(
            IncidentCreated(incident=created, post_id="p-b"),
            IncidentAssigned(incident=assigned, assignee=assigned.assignee, explanation="round-robin"),  # type: ignore[arg-type]
            IncidentEscalated(incident=assigned, level=1, reason="нет ответа"),
        )
        detail = (await gw.client.get("/v1/incidents/inc-b", headers=gw.headers("federal"))).json()
        assert detail["status"] == "assigned" and detail["post_ids"] == ["p-b", "p-c"]
        assert [h["type"] for h in detail["history"]] == ["incident.created", "incident.assigned", "incident.escalated"]
        assigned_entry = detail["history"][1]
        assert assigned_entry["detail"]["explanation"] == "round-robin"

    async def test_a_stopped_clock_keeps_its_due_time_for_analytics(self, gw: Gateway) -> None:
        due = T0 + timedelta(hours=4)
        await gw.create(snapshot("inc-d", first_response_due=due))
        answered = snapshot("inc-d", status=IncidentStatus.answered, first_response_at=T0 + timedelta(hours=5))
        # Routing drops the stopped first-response clock from the snapshot.
        answered = answered.model_copy(update={"first_response_due": None, "updated_at": T0 + timedelta(hours=5)})
        start, end = IncidentStatus.in_progress, IncidentStatus.answered
        await gw.feed(IncidentStatusChanged(incident=answered, from_status=start, to_status=end, actor="off-64-1"))
        detail = (await gw.client.get("/v1/incidents/inc-d", headers=gw.headers("admin64"))).json()
        assert detail["deadlines"]["first_response_due"].startswith("2026-11-20T13:00:00")
        summary = (await gw.client.get("/v1/analytics/summary", headers=gw.headers("admin64"))).json()
        assert (summary["total"]["answered"], summary["total"]["answered_on_time"]) == (1, 0)


class TestConsumersOverNats:
    async def test_events_published_by_routing_reach_the_api(self, nats_url: str, tmp_path: Path) -> None:
        producer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", [])
        await producer_db.create_tables()
        producer = EventRuntime(db=producer_db, nats_url=nats_url, client_name="fake-routing")
        await producer.start()
        settings = gateway_settings(tmp_path, nats_enabled=True, nats_url=nats_url)
        try:
            async with running(settings) as gw:
                async with producer_db.transaction() as session:
                    publish(session, classified("p-n1", "Мусор не вывозят"), source="/test/classifier")
                    snap = snapshot("inc-n1", post_ids=["p-n1"], category="waste")
                    publish(session, IncidentCreated(incident=snap, post_id="p-n1"), source="/test/routing")
                    publish(
                        session,
                        IncidentCreated(incident=snapshot("inc-n2", region="77"), post_id="x"),
                        source="/test/routing",
                    )

                async def visible() -> list[str]:
                    response = await gw.client.get("/v1/incidents", headers=gw.headers("admin64"))
                    return [i["incident_id"] for i in response.json()["items"]]

                assert await eventually(visible, until=lambda ids: ids == ["inc-n1"])

                async def posts() -> list[str]:
                    detail = (await gw.client.get("/v1/incidents/inc-n1", headers=gw.headers("admin64"))).json()
                    return [p["text"] for p in detail["posts"]]

                assert await eventually(posts, until=lambda texts: texts == ["Мусор не вывозят"])
                async with gw.app.state.db.transaction() as session:
                    assert await session.get(Incident, "inc-n2") is not None
        finally:
            await producer.stop()
            await producer_db.dispose()
            await asyncio.sleep(0)
