"""The read model: events in any order, stale snapshots, posts before/after incidents, real NATS."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from api_gateway.incidents.consumers import apply_classified_posts, apply_incident_events
from api_gateway.incidents.decisions import decide_incidents, decide_posts
from api_gateway.incidents.models import Incident, IncidentEventLog, IncidentPost, Post
from api_gateway.models import TABLES
from api_gateway.testing import Gateway, gateway_settings, running
from incidents_common.db import Database, publish
from incidents_common.events import (
    Assignee,
    BadEvent,
    CloudEvent,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentPostAttached,
    IncidentSnapshot,
    IncidentStatus,
    IncidentStatusChanged,
    PostClassified,
    new_event,
)
from incidents_common.nats import EventRuntime
from incidents_common.processes import asyncpg_url
from incidents_common.testing import T0, eventually, incident_snapshot, post_classified


class TestSnapshots:
    async def test_an_older_snapshot_never_rolls_the_incident_back(self, make_gateway, database_url: str) -> None:
        async with make_gateway(database_url=database_url) as gw:
            newer = incident_snapshot("inc-1", status=IncidentStatus.in_progress, updated_at=T0 + timedelta(hours=2))
            older = incident_snapshot("inc-1", status=IncidentStatus.assigned, updated_at=T0 + timedelta(hours=1))
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
        await gw.feed(post_classified("p-early", "Огромная яма возле подъезда, пробили колёса"))
        await gw.create(incident_snapshot("inc-2", post_ids=["p-early", "p-late"], title="Дорога", summary="Жалоба"))
        await gw.feed(post_classified("p-late", "Во дворе не убирают снег уже неделю"))
        detail = (await gw.client.get("/v1/incidents/inc-2", headers=gw.headers("admin64"))).json()
        assert [p["post_id"] for p in detail["posts"]] == ["p-early", "p-late"]
        evidence = detail["posts"][0]["classification"]["incident"]["evidence"]
        assert evidence == ["пробили колёса"]
        assert detail["assignment_explanation"].startswith("Правило")
        for query in ("снега", "подъезды", "колесо"):
            page = (await gw.client.get("/v1/incidents", params={"q": query}, headers=gw.headers("admin64"))).json()
            assert [i["incident_id"] for i in page["items"]] == ["inc-2"], query

    async def test_an_older_post_version_does_not_replace_a_newer_one(self, gw: Gateway) -> None:
        await gw.feed(post_classified("p-1", "исправленный текст", version=2))
        await gw.feed(post_classified("p-1", "первый текст", version=1))
        await gw.create(incident_snapshot("inc-3", post_ids=["p-1"]))
        detail = (await gw.client.get("/v1/incidents/inc-3", headers=gw.headers("federal"))).json()
        assert detail["posts"][0]["text"] == "исправленный текст"
        assert detail["posts"][0]["version"] == 2

    async def test_one_batch_with_several_events_of_one_new_incident(self, gw: Gateway) -> None:
        created = incident_snapshot("inc-b", status=IncidentStatus.new, official=None, post_ids=["p-b"])
        assigned = incident_snapshot("inc-b", post_ids=["p-b", "p-c"], updated_at=T0 + timedelta(minutes=1))
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
        await gw.create(incident_snapshot("inc-d", first_response_due=due))
        answered = incident_snapshot("inc-d", status=IncidentStatus.answered, first_response_at=T0 + timedelta(hours=5))
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
                    publish(session, post_classified("p-n1", "Мусор не вывозят"), source="/test/classifier")
                    snap = incident_snapshot("inc-n1", post_ids=["p-n1"], category="waste")
                    publish(session, IncidentCreated(incident=snap, post_id="p-n1"), source="/test/routing")
                    publish(
                        session,
                        IncidentCreated(incident=incident_snapshot("inc-n2", region="77"), post_id="x"),
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


# ---------------------------------------------------------------------------------------------
# The batch handlers: decisions in memory, effects in bulk; a batch and one event at a time agree
# ---------------------------------------------------------------------------------------------


def _event(payload: Any, minutes: float = 0) -> CloudEvent[Any]:
    return new_event(payload, source="/test", event_id=uuid.uuid4().hex).model_copy(
        update={"time": T0 + timedelta(minutes=minutes)}
    )


def _at(minutes: float, **kw: Any) -> IncidentSnapshot:
    return incident_snapshot("inc-x", updated_at=T0 + timedelta(minutes=minutes), **kw)


def _status(snap: IncidentSnapshot, start: IncidentStatus, end: IncidentStatus, minutes: float) -> CloudEvent[Any]:
    return _event(IncidentStatusChanged(incident=snap, from_status=start, to_status=end, actor="off-64-1"), minutes)


def _scrambled_history() -> list[CloudEvent[Any]]:
    """Two incidents' events and their posts, out of order: late snapshots, an older post version after
    a newer one, a post claimed by two incidents, escalations and answers on stale snapshots."""
    a0 = incident_snapshot("inc-a", status=IncidentStatus.new, official=None, post_ids=["p-1"])
    a1 = incident_snapshot("inc-a", post_ids=["p-1", "p-2"], updated_at=T0 + timedelta(minutes=5))
    a2 = incident_snapshot(
        "inc-a",
        status=IncidentStatus.answered,
        post_ids=["p-1", "p-2"],
        updated_at=T0 + timedelta(minutes=30),
        first_response_at=T0 + timedelta(minutes=29),
        first_response_due=None,
    )
    b0 = incident_snapshot("inc-b", region="77", post_ids=["p-2", "p-3"], title="Свалка у реки", summary="Мусор горит")
    b1 = b0.model_copy(update={"severity": 4, "escalation_level": 1, "updated_at": T0 + timedelta(minutes=50)})
    assert a1.assignee is not None
    return [
        _event(post_classified("p-2", "Яму так и не засыпали", version=2)),
        _event(IncidentAssigned(incident=a1, assignee=a1.assignee, explanation="по категории"), 5),
        _event(post_classified("p-1", "Огромная яма во дворе")),
        _event(IncidentCreated(incident=b0, post_id="p-2"), 1),
        _status(a2, IncidentStatus.in_progress, IncidentStatus.answered, 30),
        _event(IncidentCreated(incident=a0, post_id="p-1")),  # the oldest snapshot arrives last but one
        _event(post_classified("p-2", "Яма на дороге", version=1)),  # an older version after the newer one
        _event(IncidentEscalated(incident=b1, level=1, reason="нет ответа"), 50),
        _event(IncidentEscalated(incident=b0, level=1, reason="повтор"), 2),  # stale, still counted
        _status(a1, IncidentStatus.assigned, IncidentStatus.answered, 20),  # stale, an earlier answer
        _event(post_classified("p-3", "Горит мусор на берегу", region="77")),
    ]


async def _apply(db: Database, events: list[CloudEvent[Any]], batch: int) -> None:
    """Feed events as the two consumers would: each stream in its own batches of `batch` events."""
    posts = [e for e in events if isinstance(e.data, PostClassified)]
    incident_events = [e for e in events if not isinstance(e.data, PostClassified)]
    for handler, stream in ((apply_classified_posts, posts), (apply_incident_events, incident_events)):
        for start in range(0, len(stream), batch):
            async with db.transaction() as session:
                await handler(session.writes, stream[start : start + batch])


async def _read_model(db: Database) -> dict[str, list[Any]]:
    """Every read-model row (the history in seq order, without the seq itself)."""
    async with db.engine.connect() as conn:
        incidents = (await conn.execute(select(Incident.__table__).order_by(text("incident_id")))).mappings().all()  # type: ignore[attr-defined]
        posts = (await conn.execute(select(Post.__table__).order_by(text("post_id")))).mappings().all()  # type: ignore[attr-defined]
        links = (await conn.execute(select(IncidentPost.__table__).order_by(text("post_id")))).mappings().all()  # type: ignore[attr-defined]
        history = (await conn.execute(select(IncidentEventLog.__table__).order_by(text("seq")))).mappings().all()  # type: ignore[attr-defined]
    return {
        "incidents": [dict(row) for row in incidents],
        "posts": [dict(row) for row in posts],
        "links": [dict(row) for row in links],
        "history": [{k: v for k, v in row.items() if k != "seq"} for row in history],
    }


class TestDecisions:
    def test_a_new_incident_row_has_every_column(self) -> None:
        effects = decide_incidents({}, [_event(IncidentCreated(incident=_at(0), post_id="p"))])
        assert set(effects.incidents[0]) == {c.name for c in Incident.__table__.columns}  # type: ignore[attr-defined]
        assert effects.incidents[0]["escalations"] == 0

    def test_an_older_snapshot_keeps_the_row_but_counts_its_facts(self) -> None:
        stored = decide_incidents({}, [_event(IncidentCreated(incident=_at(10), post_id="p"))]).incidents[0]
        stale = _at(5, status=IncidentStatus.in_progress)
        effects = decide_incidents(
            {"inc-x": stored},
            [
                _event(IncidentEscalated(incident=stale, level=1, reason="r"), 5),
                _status(stale, IncidentStatus.assigned, IncidentStatus.answered, 6),
            ],
        )
        (row,) = effects.incidents
        assert (row["status"], row["updated_at"]) == ("assigned", T0 + timedelta(minutes=10))
        assert row["escalations"] == 1 and row["answered_at"] == T0 + timedelta(minutes=6)
        assert [h["type"] for h in effects.history] == ["incident.escalated", "incident.status_changed"]

    def test_the_revision_orders_snapshots_whatever_their_time(self) -> None:
        # Routing's created and assigned share one instant; between routing replicas a later change
        # can even carry an earlier time. The revision decides, in either order of arrival.
        def at(minutes: float, revision: int, **kw: Any) -> IncidentSnapshot:
            return _at(minutes, **kw).model_copy(update={"revision": revision})

        created = _event(IncidentCreated(incident=at(10, 1, status=IncidentStatus.new), post_id="p"))
        assignee = Assignee(official_id="off-64-1", name="Чиновник")
        assigned = _event(IncidentAssigned(incident=at(10, 2), assignee=assignee, explanation="rule"))
        attached = _event(
            IncidentPostAttached(incident=at(9, 3, post_ids=["p", "q"]), post_id="q", similarity=0.9, explanation="x")
        )
        for order in itertools.permutations([created, assigned, attached]):
            (row,) = decide_incidents({}, list(order)).incidents
            assert (row["status"], row["post_ids"], row["revision"]) == ("assigned", ["p", "q"], 3)

    def test_an_unchanged_incident_is_not_written_again(self) -> None:
        created = _event(IncidentCreated(incident=_at(10), post_id="p"))
        stored = decide_incidents({}, [created]).incidents[0]
        effects = decide_incidents({"inc-x": stored}, [_event(IncidentCreated(incident=_at(3), post_id="p"))])
        assert effects.incidents == [] and len(effects.history) == 1

    def test_a_post_stays_with_the_first_incident_that_claims_it(self) -> None:
        effects = decide_incidents(
            {},
            [
                _event(IncidentCreated(incident=incident_snapshot("i-1", post_ids=["p-1"]), post_id="p-1")),
                _event(IncidentCreated(incident=incident_snapshot("i-2", post_ids=["p-1", "p-2"]), post_id="p-2")),
            ],
        )
        assert effects.links == [{"post_id": "p-1", "incident_id": "i-1"}, {"post_id": "p-2", "incident_id": "i-2"}]

    def test_only_the_newest_post_version_is_written(self) -> None:
        events = [_event(post_classified("p", "v3", version=3)), _event(post_classified("p", "v2", version=2))]
        assert [row["text"] for row in decide_posts({}, events)] == ["v3"]
        assert decide_posts({"p": 4}, events) == []
        assert [row["version"] for row in decide_posts({"p": 3}, events)] == [3]  # the same version again

    def test_stored_json_is_the_event_as_received(self) -> None:
        """The consumer hands over each event's JSON as it arrived: the post's JSON columns and the
        history's payload are that JSON (a newer producer's extra field included), not a model dump."""
        post = _event(post_classified("p", "Яма на дороге"))
        received = post.model_dump(mode="json", exclude_none=True)
        received["data"]["reach"]["from_a_newer_release"] = True
        row = decide_posts({}, [post], lambda event: received)[0]
        assert row["reach"] == received["data"]["reach"]
        # The classification is stored whole, an empty field as null: readers use every field.
        assert "danger" in row["classification"] and row["classification"]["danger"] is None
        created = _event(IncidentCreated(incident=incident_snapshot("i-1", post_ids=["p"]), post_id="p"))
        document = {**created.model_dump(mode="json", exclude_none=True), "extension": "kept"}
        assert decide_incidents({}, [created], lambda event: document).history[0]["payload"] == document

    def test_chatter_is_not_stored_unless_review_asks_or_an_earlier_version_is(self) -> None:
        def chatter(post_id: str, *, needs_review: bool = False, version: int = 1) -> PostClassified:
            post = post_classified(post_id, "Продам велосипед, недорого", version=version)
            verdict = post.classification.model_copy(update={"is_incident": False, "needs_review": needs_review})
            return post.model_copy(update={"classification": verdict})

        events = [
            _event(post_classified("complaint", "Яма на дороге")),
            _event(chatter("chatter")),
            _event(chatter("unsure", needs_review=True)),
            _event(chatter("was-a-complaint", version=2)),
        ]
        rows = decide_posts({"was-a-complaint": 1}, events)
        assert [row["post_id"] for row in rows] == ["complaint", "unsure", "was-a-complaint"]

    async def test_a_batch_with_a_foreign_event_is_refused_whole(self, tmp_path: Path) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", TABLES)
        await db.create_tables()
        try:
            with pytest.raises(BadEvent):
                async with db.transaction() as session:
                    await apply_incident_events(session.writes, [_event(post_classified("p", "текст"))])
            with pytest.raises(BadEvent):
                async with db.transaction() as session:
                    await apply_classified_posts(
                        session.writes, [_event(IncidentCreated(incident=_at(0), post_id="p"))]
                    )
        finally:
            await db.dispose()

    async def test_a_classification_outside_the_taxonomy_is_refused_with_its_reason(self, tmp_path: Path) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", TABLES)
        await db.create_tables()
        post = post_classified("odd", "Яма на дороге")
        label = post.classification.category.model_copy(update={"label": "no_such_category"})
        odd = post.model_copy(update={"classification": post.classification.model_copy(update={"category": label})})
        try:
            with pytest.raises(BadEvent, match="post odd: unknown category 'no_such_category'"):
                async with db.transaction() as session:
                    await apply_classified_posts(session.writes, [_event(odd)])
        finally:
            await db.dispose()


class TestBatches:
    async def test_one_batch_and_one_event_at_a_time_build_the_same_read_model(
        self, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        events = _scrambled_history()
        models = []
        for batch in (len(events), 1, 3):
            url = database_url
            if batch != len(events):  # a database of its own for each way of feeding
                url = await _sibling_database(request, database_url, tmp_path, f"b{batch}")
            db = Database(url, TABLES)
            await db.create_tables()
            try:
                await _apply(db, events, batch)
                models.append(await _read_model(db))
            finally:
                await db.dispose()
        assert models[0] == models[1] == models[2]
        incidents = {row["incident_id"]: row for row in models[0]["incidents"]}
        a, b = incidents["inc-a"], incidents["inc-b"]
        assert (a["status"], a["post_ids"], a["answered_at"]) == (
            "answered",
            ["p-1", "p-2"],
            T0 + timedelta(minutes=20),
        )
        assert a["first_response_due"] == T0 + timedelta(hours=8)  # the stopped clock keeps its due time
        assert (b["severity"], b["escalations"]) == (4, 2)
        posts = {row["post_id"]: row for row in models[0]["posts"]}
        assert (posts["p-2"]["version"], posts["p-2"]["text"]) == (2, "Яму так и не засыпали")
        assert " засыпать " in posts["p-2"]["search_text"]
        assert {row["post_id"]: row["incident_id"] for row in models[0]["links"]} == {
            "p-1": "inc-a",
            "p-2": "inc-a",
            "p-3": "inc-b",
        }
        assert len(models[0]["history"]) == 7

    @pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
    async def test_any_arrival_order_ends_at_the_newest_snapshot(self, order: tuple[int, ...], gw: Gateway) -> None:
        created = _at(0, status=IncidentStatus.new, official=None)
        assigned = _at(10)
        escalated = _at(20, status=IncidentStatus.in_progress)
        answered = _at(30, status=IncidentStatus.answered, first_response_at=T0 + timedelta(minutes=30))
        assert assigned.assignee is not None
        events = [
            IncidentCreated(incident=created, post_id="post-inc-x"),
            IncidentAssigned(incident=assigned, assignee=assigned.assignee, explanation="round-robin"),
            IncidentEscalated(incident=escalated, level=1, reason="нет ответа"),
            IncidentStatusChanged(
                incident=answered, from_status=IncidentStatus.in_progress, to_status=IncidentStatus.answered, actor="x"
            ),
        ]
        await gw.feed(*(events[i] for i in order[:2]))
        await gw.feed(*(events[i] for i in order[2:]))
        async with gw.app.state.db.transaction() as session:
            incident = await session.get(Incident, "inc-x")
        assert incident is not None
        assert (incident.status, incident.escalations, incident.assignee_id) == ("answered", 1, "off-64-1")
        assert incident.answered_at == T0 + timedelta(minutes=30)


async def _sibling_database(request: pytest.FixtureRequest, database_url: str, tmp_path: Path, name: str) -> str:
    """Another empty database of the same kind (SQLite: another file; PostgreSQL: on the same server)."""
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
    import asyncpg  # type: ignore[import-untyped]

    libpq_url: str = request.getfixturevalue("postgres_libpq_url")
    database = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(libpq_url)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return asyncpg_url(libpq_url, database)
