"""PostClassified in → incident events out, over a real nats-server; two replicas sharing one durable."""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import httpx
import nats
import orjson
from fastapi import FastAPI
from sqlmodel import func, select

from incidents_common.db import OutboxMessage
from incidents_common.events import (
    SUBJECT_INCIDENT_ALL,
    SUBJECT_POST_CLASSIFIED,
    PostClassified,
    dead_letter_subject,
    encode_event,
    new_event,
)
from incidents_common.streams import ensure_streams
from incidents_common.testing import ServiceAuth, eventually, read_stream
from routing.config import Settings
from routing.incidents.models import Incident, IncidentPost, SkippedPost
from routing.main import create_app

POTHOLE = "На улице Чернышевского огромная яма на дороге, машины бьют колёса"
REWORDED = "Когда заделают яму на Чернышевского? Каждый день бью колёса об эту яму на дороге"


async def _publish(url: str, posts: list[PostClassified]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        for post in posts:
            event = new_event(post, source="/services/classifier", origin_post_id=post.post_id)
            await js.publish(SUBJECT_POST_CLASSIFIED, encode_event(event), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()


async def _count(app: FastAPI, model: Any) -> int:
    async with app.state.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def _processed(apps: list[FastAPI]) -> int:
    return sum(app.state.events.consumers[0].stats.processed for app in apps)


def _settings(base: Settings, nats_url: str, **changes: Any) -> Settings:
    return base.model_copy(update={"nats_enabled": True, "nats_url": nats_url, "seed_demo": True, **changes})


class TestConsumer:
    async def test_classified_posts_become_incident_events(
        self, nats_url: str, settings: Settings, make_post: Any
    ) -> None:
        app = create_app(_settings(settings, nats_url))
        async with app.router.lifespan_context(app):
            await _publish(
                nats_url,
                [
                    make_post("n1", POTHOLE),
                    make_post("n2", REWORDED),
                    make_post("n3", "Спасибо за ремонт дороги!", is_incident=False),
                    make_post("n4", "Не работает лифт", category="housing_utilities", region="77", city="Москва"),
                ],
            )
            await eventually(lambda: _count(app, IncidentPost), until=lambda n: n == 3)
            assert await _count(app, Incident) == 2
            assert await _count(app, SkippedPost) == 1

            messages = await eventually(
                lambda: read_stream(nats_url, SUBJECT_INCIDENT_ALL, timeout=0.3), until=lambda m: len(m) >= 5
            )
        events = [orjson.loads(m.data) for m in messages]
        subjects = [m.subject for m in messages]
        assert subjects.count("incidents.v1.incident.created.64") == 1
        assert subjects.count("incidents.v1.incident.assigned.64") == 1
        assert subjects.count("incidents.v1.incident.post_attached.64") == 1
        assert subjects.count("incidents.v1.incident.created.77") == 1
        assigned = next(e for e in events if e["type"] == "ru.incidents.incident.assigned")
        assert assigned["data"]["incident"]["status"] == "assigned"
        assert assigned["data"]["explanation"].startswith(f"Правило {assigned['data']['rule_id']}: ")
        assert "наименее загружен: " in assigned["data"]["explanation"]
        assert assigned["data"]["incident"]["first_response_due"]
        assert assigned["originpostid"] == "n1"
        attached = next(e for e in events if e["type"] == "ru.incidents.incident.post_attached")
        assert attached["data"]["incident"]["post_ids"] == ["n1", "n2"]
        assert attached["data"]["incident"]["complainants"] == 2
        for message in messages:
            assert message.headers["Nats-Msg-Id"] == orjson.loads(message.data)["id"]

    async def test_an_incident_moved_to_another_region_is_told_to_the_region_it_left(
        self, nats_url: str, settings: Settings, make_post: Any
    ) -> None:
        """What region 64's subscriber (filtered on incidents.v1.incident.*.64) reads when an operator
        corrects an incident's region to 77: the move, as the last event of the incident, on the stream
        (not dropped as a duplicate of the events that went to 77)."""
        app = create_app(_settings(settings, nats_url))
        async with app.router.lifespan_context(app):
            await _publish(nats_url, [make_post("m1", POTHOLE)])
            await eventually(lambda: _count(app, Incident), until=lambda n: n == 1)
            async with app.state.db.transaction() as session:
                incident = (await session.exec(select(Incident))).one()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", auth=ServiceAuth("routing")
            ) as http:
                body = {"action": "correct", "region_code": "77", "comment": "это Москва"}
                response = await http.post(f"/v1/incidents/{incident.id}/actions", json=body)
                assert response.status_code == 200, response.text
            old = await eventually(
                lambda: read_stream(nats_url, "incidents.v1.incident.*.64", timeout=0.3),
                until=lambda m: any(x.subject.startswith("incidents.v1.incident.moved_out.") for x in m),
            )
            new = await read_stream(nats_url, "incidents.v1.incident.*.77", timeout=0.3)
        assert [m.subject for m in old] == [
            "incidents.v1.incident.created.64",
            "incidents.v1.incident.assigned.64",
            "incidents.v1.incident.moved_out.64",
        ]
        assert [m.subject for m in new] == ["incidents.v1.incident.assigned.77", "incidents.v1.incident.corrected.77"]
        moved = orjson.loads(old[-1].data)
        assert moved["type"] == "ru.incidents.incident.moved_out"
        assert moved["data"]["from_region_code"] == "64" and moved["data"]["to_region_code"] == "77"
        assert moved["data"]["actor"] == "operator" and moved["data"]["comment"] == "это Москва"
        assert moved["data"]["incident"]["region_code"] == "77"
        corrected = orjson.loads(new[-1].data)
        assert moved["data"]["incident"] == corrected["data"]["incident"], "the same snapshot, after the move"
        assert old[-1].headers["Nats-Msg-Id"] == moved["id"] != corrected["id"]

    async def test_a_classification_outside_the_taxonomy_is_dead_lettered_with_its_reason(
        self, nats_url: str, settings: Settings, make_post: Any
    ) -> None:
        app = create_app(_settings(settings, nats_url))
        async with app.router.lifespan_context(app):
            unknown = make_post("x1", POTHOLE, category="no_such_category")
            odd_urgency = make_post("x2", REWORDED, urgency="apocalyptic", region="77", city="Москва")
            await _publish(nats_url, [unknown, odd_urgency, make_post("x3", POTHOLE)])
            letters = await eventually(
                lambda: read_stream(nats_url, dead_letter_subject("routing-post-classified"), timeout=0.3),
                until=lambda m: len(m) >= 2,
            )
            await eventually(lambda: _count(app, Incident), until=lambda n: n == 1)
        reasons = sorted(m.headers["Incidents-Dead-Letter-Reason"] for m in letters)
        assert "post x1: unknown category 'no_such_category'" in reasons[0]
        assert "post x2: unknown urgency 'apocalyptic'" in reasons[1]

    async def test_two_replicas_share_one_durable_without_double_assignment(
        self, nats_url: str, postgres_url: str, settings: Settings, make_post: Any
    ) -> None:
        regions = {"64": "Саратов", "63": "Тольятти", "77": "Москва", "78": "Санкт-Петербург", "16": "Казань"}
        categories = ["roads", "healthcare", "housing_utilities", "education", "ecology", "social_support"]
        posts = []
        for n in range(2):  # the same problem twice, reworded: replicas must cluster it into one incident
            text = [POTHOLE, REWORDED][n]
            for region, city in regions.items():
                for category in categories:
                    posts.append(
                        make_post(f"{region}-{category}-{n}", text, region=region, city=city, category=category)
                    )
        config = _settings(settings, nats_url, database_url=postgres_url, consumer_batch=10)
        apps = [create_app(config), create_app(config)]
        async with AsyncExitStack() as stack:
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
            await _publish(nats_url, posts)
            await eventually(lambda: _count(apps[0], IncidentPost), until=lambda n: n == len(posts), timeout=30)
            # Every post handled: the replicas' processed counts (each counted once it committed) reach
            # the posts, and once the shared outbox is empty every event they queued is on the stream.
            await eventually(lambda: _processed(apps), until=lambda n: n >= len(posts), timeout=30)
            await eventually(lambda: _count(apps[0], OutboxMessage), until=lambda n: n == 0, timeout=30)
            async with apps[0].state.db.transaction() as session:
                incidents = (await session.exec(select(Incident))).all()
            messages = await read_stream(nats_url, "incidents.v1.incident.assigned.>", timeout=0.3)
            processed = [app.state.events.consumers[0].stats.processed for app in apps]
        assert len(incidents) == len(posts) // 2
        assert sorted(len(i.post_ids) for i in incidents) == [2] * len(incidents)
        per_incident = Counter(orjson.loads(m.data)["data"]["incident"]["incident_id"] for m in messages)
        assert per_incident == dict.fromkeys((i.id for i in incidents), 1)  # each incident assigned exactly once
        # Deadlocks between the replicas' batches are retried message by message: nothing is lost,
        # and the inbox lets no post be handled by both replicas.
        assert sum(processed) == len(posts), processed
