"""Scale-out: two replicas each of the classifier, routing and the gateway, in one process over a real
nats-server that has the deployed service users (replicas log in as their service's user and share its
durable consumers) and one PostgreSQL database per service (replicas share it; services never do), plus
one collector. A few hundred posts go in; the replicas split the work, nothing is done twice, and the
gateway ends with exactly routing's incidents."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NatsClient
from sqlalchemy import func
from sqlmodel import col, select

from api_gateway.incidents.models import Incident as GatewayIncident
from api_gateway.incidents.models import IncidentEventLog
from api_gateway.testing import Gateway, gateway_settings, running
from classifier.config import Settings as ClassifierSettings
from classifier.main import create_app as classifier_app
from classifier.models import ClassificationRecord
from collector.main import create_app as collector_app
from collector.testing import make_settings as collector_settings
from incidents_common.db import Database, InboxMessage, OutboxMessage, Writes
from incidents_common.events import SUBJECT_POST_CLASSIFIED, SUBJECT_POST_COLLECTED, SUBJECT_POST_NOISE, CloudEvent
from incidents_common.nats import BatchHandler, Consumer
from incidents_common.testing import ServiceAuth, eventually
from routing.config import Settings as RoutingSettings
from routing.incidents.models import Incident as RoutingIncident
from routing.incidents.models import IncidentPost, SkippedPost
from routing.main import create_app as routing_app

from .replicas_support import (
    Dataset,
    SecuredNats,
    StreamMessage,
    build_dataset,
    create_database,
    reader,
    secured_nats,
    stream_count,
    stream_messages,
)

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

# Small pulls, so that a few hundred posts make many batches and both replicas of each kind get some.
CONSUMER_BATCH = 10
INGEST_CHUNK = 50  # posts per POST /v1/posts: the stream fills while the consumers already work
SETTLE_TIMEOUT = 40.0

DURABLE_CLASSIFIER = "classifier-post-collected"
DURABLE_ROUTING = "routing-post-classified"
DURABLE_GATEWAY_POSTS = "gateway-post-classified"
DURABLE_GATEWAY_INCIDENTS = "gateway-incident-events"
DURABLE_GATEWAY_ALERTS = "gateway-alert-events"  # the surge alerts routing raises (its towns' complaints)


@dataclass
class Replicas:
    """Two app instances of one service, sharing its database and its NATS user."""

    service: str
    apps: tuple[FastAPI, FastAPI]

    @property
    def db(self) -> Database:
        db: Database = self.apps[0].state.db  # either replica: it is one database
        return db

    def consumers(self, durable: str) -> list[Consumer]:
        return [
            next(consumer for consumer in app.state.events.consumers if consumer.spec.durable == durable)
            for app in self.apps
        ]

    async def ready(self) -> bool:
        return all(app.state.events.ready.is_set() for app in self.apps)

    def record_posts(self, durable: str) -> list[set[str]]:
        """Per replica, the post ids its handler of `durable` got through: which replica did what.
        Call before the consumers start."""
        handled_by: list[set[str]] = []
        for consumer in self.consumers(durable):
            handled: set[str] = set()
            consumer.spec.handler = _recording(consumer.spec.handler, handled)
            handled_by.append(handled)
        return handled_by


def _recording(handler: BatchHandler, handled: set[str]) -> BatchHandler:
    async def recording(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        await handler(writes, events)
        handled.update(str(event.data.post_id) for event in events)

    return recording


@dataclass
class System:
    collector: FastAPI
    classifier: Replicas
    routing: Replicas
    gateway: Replicas
    gateways: tuple[Gateway, Gateway]  # the gateway replicas with their test clients and API keys
    routed_by: list[set[str]]  # per routing replica, the posts it routed


@contextlib.asynccontextmanager
async def scaled_out(tmp_path: Path, secured: SecuredNats, postgres_libpq_url: str) -> AsyncIterator[System]:
    common: dict[str, Any] = {"log_json": False, "log_level": "WARNING", "consumer_batch": CONSUMER_BATCH}
    classifier_db = await create_database(postgres_libpq_url, "classifier")
    routing_db = await create_database(postgres_libpq_url, "routing")
    gateway_db = await create_database(postgres_libpq_url, "gateway")

    def classifier() -> FastAPI:
        settings = ClassifierSettings(
            database_url=classifier_db, model_reload_seconds=0, **secured.login("classifier"), **common
        )
        return classifier_app(settings)

    def routing() -> FastAPI:
        # No deadline scanner: the incident events are then exactly those the posts cause.
        settings = RoutingSettings(
            database_url=routing_db,
            seed_demo=True,
            deadline_scanner_enabled=False,
            **secured.login("routing"),
            **common,
        )
        return routing_app(settings)

    gateway = gateway_settings(
        tmp_path, database_url=gateway_db, nats_enabled=True, **secured.login("api-gateway"), **common
    )
    async with contextlib.AsyncExitStack() as stack:
        collector = collector_app(
            collector_settings(
                f"sqlite+aiosqlite:///{tmp_path / 'collector.db'}", nats_enabled=True, **secured.login("collector")
            )
        )
        classifiers = (classifier(), classifier())
        routings = (routing(), routing())
        routed_by = Replicas("routing", routings).record_posts(DURABLE_ROUTING)
        for app in (collector, *classifiers, *routings):
            await stack.enter_async_context(app.router.lifespan_context(app))
        gateways = (
            await stack.enter_async_context(running(gateway)),
            await stack.enter_async_context(running(gateway)),
        )
        system = System(
            collector,
            Replicas("classifier", classifiers),
            Replicas("routing", routings),
            Replicas("api-gateway", (gateways[0].app, gateways[1].app)),
            gateways,
            routed_by,
        )
        for replicas in (system.classifier, system.routing, system.gateway):
            await eventually(replicas.ready, timeout=20)
        await eventually(lambda: _ready(collector), timeout=20)
        yield system


async def _ready(app: FastAPI) -> bool:
    return bool(app.state.events.ready.is_set())


async def ingest(collector: FastAPI, posts: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Push the posts through the collector's API; external id -> the post id it gave."""
    post_ids: dict[str, str] = {}
    transport = httpx.ASGITransport(app=collector)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://collector", auth=ServiceAuth("collector"), timeout=30
    ) as client:
        for start in range(0, len(posts), INGEST_CHUNK):
            chunk = posts[start : start + INGEST_CHUNK]
            response = await client.post("/v1/posts", json={"posts": chunk})
            assert response.status_code in (200, 201, 202), response.text
            result = response.json()
            assert result["accepted"] == len(chunk), result
            post_ids.update({item["external_id"]: item["post_id"] for item in result["items"]})
    return post_ids


# ---------------------------------------------------------------------------------------------
# Waiting for the pipeline to settle
# ---------------------------------------------------------------------------------------------


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def _inbox(db: Database, durable: str) -> int:
    return await _count(db, InboxMessage, col(InboxMessage.consumer) == durable)


@dataclass(frozen=True)
class Progress:
    """How far the posts have gone, read in pipeline order (so that a count read later is final
    when the counts before it are)."""

    classified: int
    routed: int  # post.classified events routing has processed
    routing_outbox: int  # incident events routing has not published yet
    incident_events: int  # on the INCIDENTS stream: incident events and surge alerts
    gateway_posts: int
    gateway_incident_events: int
    gateway_alerts: int
    routing_incidents: int
    gateway_incidents: int

    def settled(self, posts: int, complaints: int) -> bool:
        # Routing and the read model consume the complaints; the chatter goes to post.noise.
        return (
            self.classified == posts
            and self.routed == complaints
            and self.routing_outbox == 0
            and self.gateway_posts == complaints
            and self.gateway_incident_events + self.gateway_alerts == self.incident_events
            and self.gateway_incidents == self.routing_incidents
        )


async def progress(system: System, nats_reader: NatsClient) -> Progress:
    # Keyword arguments are evaluated in order: the reads go down the pipeline.
    return Progress(
        classified=await _count(system.classifier.db, ClassificationRecord),
        routed=await _inbox(system.routing.db, DURABLE_ROUTING),
        routing_outbox=await _count(system.routing.db, OutboxMessage),
        incident_events=await stream_count(nats_reader, "INCIDENTS"),
        gateway_posts=await _inbox(system.gateway.db, DURABLE_GATEWAY_POSTS),
        gateway_incident_events=await _inbox(system.gateway.db, DURABLE_GATEWAY_INCIDENTS),
        gateway_alerts=await _inbox(system.gateway.db, DURABLE_GATEWAY_ALERTS),
        routing_incidents=await _count(system.routing.db, RoutingIncident),
        gateway_incidents=await _count(system.gateway.db, GatewayIncident),
    )


# ---------------------------------------------------------------------------------------------
# What is asserted
# ---------------------------------------------------------------------------------------------


def repeated(counts: Counter[str]) -> dict[str, int]:
    return {key: n for key, n in counts.items() if n != 1}


def assert_split_once(replicas: Replicas, durable: str, events: int) -> None:
    """Both replicas processed a share, and the shares add up to the events: none handled twice."""
    stats = [consumer.stats for consumer in replicas.consumers(durable)]
    shares = [s.processed for s in stats]
    assert all(share > 0 for share in shares), f"{durable}: a replica got no work: processed {shares}"
    assert sum(shares) == events, (
        f"{durable}: the replicas processed {shares} (sum {sum(shares)}) of {events} distinct events; "
        f"duplicates {[s.duplicates for s in stats]}"
    )
    assert [s.dead_lettered for s in stats] == [0, 0], f"{durable}: dead letters {[s.dead_lettered for s in stats]}"


def post_ids_by_subject(messages: list[StreamMessage], subject: str) -> Counter[str]:
    return Counter(str(m.event["data"]["post_id"]) for m in messages if m.subject == subject)


def events_of(messages: list[StreamMessage], incident_ids: Iterable[str]) -> dict[str, list[tuple[str, ...]]]:
    """Per incident, its events as (type, status, updated_at, revision, posts, id) in stream order: why a
    read model differs."""
    wanted = set(incident_ids)
    found: dict[str, list[tuple[str, ...]]] = {key: [] for key in wanted}
    for m in messages:
        snapshot = m.event["data"]["incident"]
        if snapshot["incident_id"] in wanted:
            found[snapshot["incident_id"]].append(
                (
                    m.event["type"].removeprefix("ru.incidents."),
                    snapshot["status"],
                    snapshot["updated_at"],
                    f"revision {snapshot.get('revision')}",
                    f"{len(snapshot['post_ids'])} posts",
                    str(m.event["id"]),
                )
            )
    return found


class TestScaleOut:
    async def test_two_replicas_of_each_consumer_split_the_work_and_nothing_is_done_twice(
        self, tmp_path: Path, postgres_libpq_url: str
    ) -> None:
        dataset: Dataset = build_dataset()
        total = len(dataset.posts)
        with secured_nats(tmp_path / "nats") as secured:
            async with scaled_out(tmp_path, secured, postgres_libpq_url) as system, reader(secured) as nats_reader:
                post_ids = await ingest(system.collector, dataset.posts)
                assert len(post_ids) == total
                settled = await eventually(
                    lambda: progress(system, nats_reader),
                    until=lambda p: p.settled(total, len(dataset.complaints)),
                    timeout=SETTLE_TIMEOUT,
                    interval=0.2,
                )
                posts_stream = await stream_messages(nats_reader, "POSTS")
                incidents_stream = await stream_messages(nats_reader, "INCIDENTS")
                dead_letters = await stream_count(nats_reader, "DEADLETTER")
                await self.check(system, dataset, post_ids, settled, posts_stream, incidents_stream, dead_letters)

    async def check(
        self,
        system: System,
        dataset: Dataset,
        post_ids: dict[str, str],
        settled: Progress,
        posts_stream: list[StreamMessage],
        incidents_stream: list[StreamMessage],
        dead_letters: int,
    ) -> None:
        total = len(dataset.posts)
        every_post = set(post_ids.values())
        complaints = {post_ids[e] for e in dataset.complaints}
        noise = {post_ids[e] for e in dataset.noise}
        assert dead_letters == 0, f"{dead_letters} dead letters"

        # One post.collected per post on the stream, and one post.classified per complaint or one
        # post.noise per other post.
        collected = post_ids_by_subject(posts_stream, SUBJECT_POST_COLLECTED)
        classified = post_ids_by_subject(posts_stream, SUBJECT_POST_CLASSIFIED)
        chatter = post_ids_by_subject(posts_stream, SUBJECT_POST_NOISE)
        assert set(collected) == every_post and not repeated(collected), repeated(collected)
        assert set(classified) == complaints, f"post.classified: {sorted(set(classified) ^ complaints)[:10]}"
        assert set(chatter) == noise, f"post.noise: {sorted(set(chatter) ^ noise)[:10]}"
        assert not repeated(classified + chatter), f"classified more than once: {repeated(classified + chatter)}"
        incident_event_ids = Counter(str(m.event["id"]) for m in incidents_stream)
        assert not repeated(incident_event_ids), repeated(incident_event_ids)
        created = Counter(
            str(m.event["data"]["incident"]["incident_id"])
            for m in incidents_stream
            if m.event["type"].endswith("incident.created")
        )
        assert not repeated(created), f"incidents created more than once: {repeated(created)}"

        # (a) the work split, (b) each event processed by exactly one replica.
        assert_split_once(system.classifier, DURABLE_CLASSIFIER, total)
        assert_split_once(system.routing, DURABLE_ROUTING, len(complaints))
        assert_split_once(system.gateway, DURABLE_GATEWAY_POSTS, len(complaints))
        incident_messages = [m for m in incidents_stream if m.subject.startswith("incidents.v1.incident.")]
        assert_split_once(system.gateway, DURABLE_GATEWAY_INCIDENTS, len(incident_messages))

        # The classifier: one result per post; the dataset's assumption about the model, said plainly.
        async with system.classifier.db.transaction() as session:
            results = (await session.exec(select(ClassificationRecord))).all()
        assert Counter(r.post_id for r in results) == Counter(every_post), "classification rows != posts"
        by_post = {r.post_id: r for r in results}
        for problem in dataset.problems:
            for external_id in problem.external_ids:
                r = by_post[post_ids[external_id]]
                assert (r.is_incident, r.region_code, r.category) == (True, problem.region_code, problem.category), (
                    f"the dataset assumes {external_id} is a {problem.category} complaint in {problem.region_code}: "
                    f"{r.is_incident, r.region_code, r.category} {r.text!r}"
                )
        assert not [by_post[p].text for p in noise if by_post[p].is_incident], "noise classified as a complaint"

        # Routing: every complaint in exactly one incident, each problem's retellings in the same one.
        async with system.routing.db.transaction() as session:
            incidents = (await session.exec(select(RoutingIncident))).all()
            attached = (await session.exec(select(IncidentPost.post_id, IncidentPost.incident_id))).all()
            skipped = set((await session.exec(select(SkippedPost.post_id))).all())
        in_incidents = Counter(p for incident in incidents for p in incident.post_ids)
        assert not repeated(in_incidents), f"posts in more than one incident: {repeated(in_incidents)}"
        assert set(in_incidents) == complaints, (
            f"complaints not in an incident: {sorted(complaints - set(in_incidents))[:10]}; "
            f"others in one: {sorted(set(in_incidents) - complaints)[:10]}"
        )
        owner = {p: incident.id for incident in incidents for p in incident.post_ids}
        assert dict(attached) == owner, "routing_incident_posts disagrees with the incidents' post lists"
        assert not skipped, f"routing skipped {len(skipped)} posts: the chatter reached it"
        expected_clusters = {
            problem.key: frozenset(post_ids[e] for e in problem.external_ids) for problem in dataset.problems
        }
        clusters = {frozenset(incident.post_ids) for incident in incidents}
        wrong = {key: sorted(owner[p] for p in ids) for key, ids in expected_clusters.items() if ids not in clusters}
        assert not wrong, f"problems whose posts are not exactly one incident (problem: their incidents): {wrong}"
        # ... and that held under the race: the retellings of several problems went to both routing replicas.
        raced = [key for key, ids in expected_clusters.items() if all(ids & handled for handled in system.routed_by)]
        assert raced, "no problem had posts on both routing replicas: the clustering race did not happen"
        assert len(incidents) == len(dataset.problems) == settled.routing_incidents

        # The gateway: the read model is routing's incidents, and its event log has each event once.
        async with system.gateway.db.transaction() as session:
            read_model = (await session.exec(select(GatewayIncident))).all()
            log = (
                await session.exec(
                    select(IncidentEventLog.incident_id, IncidentEventLog.type, IncidentEventLog.event_id).order_by(
                        col(IncidentEventLog.seq)
                    )
                )
            ).all()
        logged = Counter(event_id for _, _, event_id in log)
        routing_view = {i.id: (i.status, list(i.post_ids)) for i in incidents}
        gateway_view = {i.incident_id: (i.status, list(i.post_ids or [])) for i in read_model}
        differing = {
            key: (routing_view.get(key), gateway_view.get(key))
            for key in routing_view.keys() | gateway_view.keys()
            if routing_view.get(key) != gateway_view.get(key)
        }
        assert not differing, (
            f"incident: (routing, gateway) where they differ: {differing}; "
            f"their events in stream order: {events_of(incident_messages, differing)}; "
            f"in the order the gateway applied them: {[(i, kind, e) for i, kind, e in log if i in differing]}"
        )
        assert not repeated(logged), f"events logged more than once: {repeated(logged)}"
        assert set(logged) == set(incident_event_ids), "the gateway's event log is not the INCIDENTS stream"

        # And the API serves it: a key made on one gateway replica reads every incident through the other.
        first, second = system.gateways
        response = await second.client.get("/v1/incidents", params={"limit": 200}, headers=first.headers("federal"))
        assert response.status_code == 200, response.text
        assert {item["incident_id"] for item in response.json()["items"]} == set(routing_view)
