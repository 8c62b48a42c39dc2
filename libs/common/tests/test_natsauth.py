"""NATS users and permissions against a real nats-server started with the generated config.

Every service works with its own user (the real EventRuntime, Consumer and OutboxRelay, built by each
service's create_app) and can do nothing else; region 64 reads region 64's events, never 77's; the
CLI issues a region's credentials and the example subscriber consumes and resumes with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import operator
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, publish
from incidents_common.events import (
    SUBJECT_INCIDENT_ALL,
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_POST_COLLECTED,
    SUBJECT_POST_NOISE,
    Classification,
    CloudEvent,
    IncidentCreated,
    IncidentSnapshot,
    IncidentStatus,
    LabelResult,
    PostClassified,
    PostCollected,
    PublicationStatus,
    ReactionClassified,
    ReactionCollected,
    ReactionLabel,
    RegionResult,
    ReplyKind,
    ReplyPublication,
    ReplyRequested,
    SourceType,
    SurgeAlert,
    Urgency,
)
from incidents_common.nats import Consumer, EventRuntime, connect, each_event
from incidents_common.natsauth import (
    SERVICES,
    CredentialStore,
    LocalNatsAuth,
    env_password_variable,
    inbox_prefix,
    issue_region_credentials,
    prepare_local_nats,
    region_user,
    render,
)
from incidents_common.processes import NatsServer
from incidents_common.streams import ensure_streams
from incidents_common.testing import eventually

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "infra" / "nats" / "regions.conf"
COMPOSE = ROOT / "infra" / "nats" / "compose.conf"
SUBSCRIBER = ROOT / "infra" / "nats" / "region_subscriber.py"


@dataclass
class Secured:
    server: NatsServer
    auth: LocalNatsAuth
    data_dir: Path

    def password(self, user: str) -> str:
        return CredentialStore(self.data_dir).load()[user].password


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalNatsAuth, Path]:
    """One credential store for the module: the four services and regions 64 and 77."""
    data_dir = tmp_path_factory.mktemp("natsauth")
    for code in ("64", "77"):
        issue_region_credentials(data_dir, code)
    return prepare_local_nats(data_dir), data_dir


@pytest.fixture
def secured(store: tuple[LocalNatsAuth, Path], tmp_path: Path) -> Iterator[Secured]:
    """A nats-server with the generated config and empty JetStream storage of its own."""
    auth, data_dir = store
    server = NatsServer(tmp_path / "jetstream", config_file=auth.config_file).start()
    yield Secured(server, auth, data_dir)
    server.stop()


async def _connect_as(url: str, user: str, password: str, errors: list[Exception]) -> Any:
    """A raw client that records the server's asynchronous errors (permission violations)."""

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    return await nats.connect(
        url,
        user=user,
        password=password,
        inbox_prefix=f"_INBOX_{user}",
        error_cb=on_error,
        max_reconnect_attempts=0,
    )


async def _violation(errors: list[Exception], *fragments: str) -> str:
    """Wait for the server's permissions violation naming all `fragments`; its text."""

    async def text() -> str:
        return " ".join(str(e) for e in errors).lower()

    return await eventually(text, until=lambda t: all(f.lower() in t for f in fragments), timeout=5)


def _now() -> datetime:
    return datetime.now(UTC)


def _collected(n: int = 1) -> PostCollected:
    return PostCollected(
        post_id=f"p{n}",
        source_type=SourceType.push,
        external_id=str(n),
        text="Яма на дороге",
        published_at=_now(),
        collected_at=_now(),
    )


def _classified(n: int = 1) -> PostClassified:
    label = LabelResult(label="roads", confidence=0.9)
    return PostClassified(
        post_id=f"p{n}",
        source_type=SourceType.push,
        external_id=str(n),
        text="Яма на дороге",
        published_at=_now(),
        classification=Classification(
            model_version="test",
            is_incident=True,
            incident=LabelResult(label="incident", confidence=0.9),
            category=label,
            region=RegionResult(code="64", name="Саратовская область", confidence=0.9),
            urgency=LabelResult(label="normal", confidence=0.9),
            sentiment=LabelResult(label="negative", confidence=0.9),
        ),
    )


def _reply_requested(region: str) -> ReplyRequested:
    return ReplyRequested(
        reply_id="r1",
        incident_id="inc-1",
        region_code=region,
        kind=ReplyKind.reply,
        text="Яму заделаем до пятницы",
        post_id="p1",
        source_type=SourceType.vk,
        external_id="-1_2",
        actor="off-64-1",
        requested_at=_now(),
    )


def _reaction_collected(region: str) -> ReactionCollected:
    return ReactionCollected(
        reaction_id="vk:-1_2_c6",
        reply_id="r1",
        incident_id="inc-1",
        region_code=region,
        source_type=SourceType.vk,
        external_id="-1_2_c6",
        by_complainant=True,
        text="Спасибо, заделали!",
        published_at=_now(),
    )


def _reaction(region: str) -> ReactionClassified:
    return ReactionClassified(
        reaction_id="vk:-1_2_c5",
        reply_id="r1",
        incident_id="inc-1",
        region_code=region,
        by_complainant=True,
        text="Ничего не сделали",
        published_at=_now(),
        label=ReactionLabel.not_fixed,
        confidence=0.9,
        model_version="test",
    )


def _publication(region: str) -> ReplyPublication:
    return ReplyPublication(
        reply_id="r1",
        incident_id="inc-1",
        region_code=region,
        kind=ReplyKind.reply,
        status=PublicationStatus.published,
        channel="vk",
        url="https://vk.com/wall-1_2?reply=3",
        at=_now(),
    )


def _surge(region: str) -> SurgeAlert:
    return SurgeAlert(
        alert_id="s1",
        region_code=region,
        region_name=f"регион {region}",
        city="Саратов",
        category="housing_utilities",
        window_start=_now(),
        window_end=_now(),
        count=12,
        baseline=0.5,
        threshold=10,
        score=1e-12,
        statistic="poisson_upper_tail",
        explanation="12 posts about housing_utilities in Саратов in the last 60 min",
        raised_at=_now(),
    )


def _incident(incident_id: str, region: str) -> IncidentCreated:
    return IncidentCreated(
        post_id="p1",
        incident=IncidentSnapshot(
            incident_id=incident_id,
            region_code=region,
            region_name=f"регион {region}",
            category="roads",
            urgency=Urgency.normal,
            status=IncidentStatus.new,
            title="Яма",
            summary="Яма на дороге",
            created_at=_now(),
            updated_at=_now(),
        ),
    )


def _service_runtime(user: str, secured: Secured, tmp_path: Path, stream_prefix: str = "") -> EventRuntime:
    """The EventRuntime exactly as the service's create_app builds it from its settings."""
    from api_gateway.config import Settings as GatewaySettings
    from api_gateway.main import create_app as gateway_app
    from classifier.config import Settings as ClassifierSettings
    from classifier.main import create_app as classifier_app
    from collector.config import Settings as CollectorSettings
    from collector.main import create_app as collector_app
    from routing.config import Settings as RoutingSettings
    from routing.main import create_app as routing_app

    factories: dict[str, tuple[Any, Any]] = {
        "collector": (CollectorSettings, collector_app),
        "classifier": (ClassifierSettings, classifier_app),
        "routing": (RoutingSettings, routing_app),
        "api-gateway": (GatewaySettings, gateway_app),
    }
    settings_class, create_app = factories[user]
    settings = settings_class(
        nats_url=secured.server.url,
        nats_user=user,
        nats_password=secured.password(user),
        database_url=f"sqlite+aiosqlite:///{tmp_path / (user + '.db')}",
        stream_prefix=stream_prefix,
        log_json=False,
    )
    runtime = create_app(settings).state.events
    assert isinstance(runtime, EventRuntime)
    return runtime


# ---------------------------------------------------------------------------------------------
# The committed configs and the store
# ---------------------------------------------------------------------------------------------


def test_the_committed_configs_are_the_generated_ones() -> None:
    assert EXAMPLE.read_text() == render(), "regenerate: python -m incidents_common.natsauth render > " + str(EXAMPLE)
    assert COMPOSE.read_text() == render(include_regions=False), (
        "regenerate: python -m incidents_common.natsauth render --no-regions > infra/nats/compose.conf"
    )


async def test_the_committed_configs_run_with_passwords_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The passwords of infra/example.env, as compose hands them to nats-server and to the services.
    lines = (ROOT / "infra" / "example.env").read_text().splitlines()
    example_env = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    for user in SERVICES:
        monkeypatch.setenv(env_password_variable(user), example_env[env_password_variable(user)])
    for config in (COMPOSE, EXAMPLE):
        server = NatsServer(tmp_path / config.stem, config_file=config).start()
        try:
            password = example_env["COLLECTOR_NATS_PASSWORD"]
            nc = await connect(server.url, "collector", attempts=1, user="collector", password=password)
            await ensure_streams(nc.jetstream())
            await nc.close()
            if config == EXAMPLE:  # the placeholder region users of the example
                region = await nats.connect(server.url, user="region64", password="region64-change-me")
                await region.close()
        finally:
            server.stop()


def test_the_store_generates_once_reuses_and_keeps_passwords_private(tmp_path: Path) -> None:
    first = prepare_local_nats(tmp_path)
    again = prepare_local_nats(tmp_path)
    assert set(first.credentials) == {"collector", "classifier", "routing", "api-gateway"}
    assert first.credentials == again.credentials, "an existing user must never be silently rotated"
    store = CredentialStore(tmp_path)
    assert stat.S_IMODE(store.secrets_dir.stat().st_mode) == 0o700
    for user, credentials in first.credentials.items():
        assert stat.S_IMODE(store.path_of(user).stat().st_mode) == 0o600
        assert len(credentials.password) >= 32
        assert credentials.password not in repr(credentials)
    assert first.service_env("routing", "ROUTING_") == {
        "ROUTING_NATS_USER": "routing",
        "ROUTING_NATS_PASSWORD": first.credentials["routing"].password,
    }

    config = first.config_file.read_text()
    assert stat.S_IMODE(first.config_file.stat().st_mode) == 0o600
    assert f'pid_file: "{store.pid_file}"' in config
    for user, credentials in first.credentials.items():
        assert credentials.password not in config, "only bcrypt hashes go into the server config"
        stored = store.load()[user]
        assert stored.password_hash.startswith("$2b$") and stored.password_hash in config
        assert bcrypt.checkpw(credentials.password.encode(), stored.password_hash.encode())

    issued = issue_region_credentials(tmp_path, "64")
    assert issued["status"] == "issued" and issued["reloaded_server_pid"] is None
    assert issue_region_credentials(tmp_path, "64")["password"] == issued["password"]
    assert prepare_local_nats(tmp_path).credentials == first.credentials
    assert '"region64"' in first.config_file.read_text(), "a launcher restart keeps the issued region users"
    for_compose = render(data_dir=tmp_path)  # service passwords from the environment, regions from the store
    assert "$COLLECTOR_NATS_PASSWORD" in for_compose and store.load()["region64"].password_hash in for_compose
    assert '"region77"' not in for_compose and issued["password"] not in for_compose
    rotated = issue_region_credentials(tmp_path, "64", rotate=True)
    assert rotated["status"] == "rotated" and rotated["password"] != issued["password"]
    assert prepare_local_nats(tmp_path).credentials == first.credentials, "rotating a region touches no service"


# ---------------------------------------------------------------------------------------------
# The services' users
# ---------------------------------------------------------------------------------------------


async def test_anonymous_and_wrong_password_connections_are_refused(secured: Secured) -> None:
    for credentials in ({}, {"user": "routing", "password": "guess"}, {"user": "nobody", "password": "x"}):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(secured.server.url, max_reconnect_attempts=0, allow_reconnect=False, **credentials)


async def test_each_service_does_its_real_work_with_its_own_user(secured: Secured, tmp_path: Path) -> None:
    runtimes = {user: _service_runtime(user, secured, tmp_path) for user in SERVICES}
    received: dict[str, list[str]] = {}

    def recorder(durable: str) -> Any:
        async def handle(_session: AsyncSession, event: CloudEvent[Any]) -> None:
            received.setdefault(durable, []).append(event.type)

        return handle

    for user, runtime in runtimes.items():
        # The durables, streams and filters the services declare are the ones the permissions grant.
        declared = sorted((c.spec.stream, c.spec.durable, c.spec.filter_subject) for c in runtime.consumers)
        assert declared == sorted((g.stream, g.durable, g.filter_subject) for g in SERVICES[user].grants())
        assert runtime.user == user
        runtime.consumers = [
            Consumer(replace(c.spec, handler=each_event(recorder(c.spec.durable))), runtime.db)
            for c in runtime.consumers
        ]
        await runtime.db.create_tables()
    for runtime in runtimes.values():  # each connects, ensures the streams, creates its consumers
        await runtime.start()
    try:
        for runtime in runtimes.values():
            await asyncio.wait_for(runtime.ready.wait(), timeout=20)

        async def got(durable: str) -> list[str]:
            return received.get(durable, [])

        # Each producer's outbox relay publishes its own event; the consumers of that subject get it.
        chain: list[tuple[str, Any, list[str]]] = [
            ("collector", _collected(), ["classifier-post-collected"]),
            ("classifier", _classified(), ["routing-post-classified", "gateway-post-classified"]),
            ("routing", _incident("inc-1", "64"), ["gateway-incident-events"]),
            ("routing", _surge("64"), ["gateway-alert-events"]),
            ("routing", _reply_requested("64"), ["collector-reply-requested"]),
            ("collector", _publication("64"), ["routing-reply-publication"]),
            ("classifier", _reaction("64"), ["routing-reaction-classified"]),
            ("collector", _reaction_collected("64"), ["classifier-reaction-collected"]),
        ]
        sent: dict[str, int] = {}
        for producer, data, durables in chain:
            async with runtimes[producer].db.transaction() as session:
                publish(session, data, source=f"/services/{producer}")
            sent[producer] = sent.get(producer, 0) + 1
            for durable in durables:
                await eventually(functools.partial(got, durable), until=lambda types: len(types) == 1)
            await eventually(
                functools.partial(_published, runtimes[producer]),
                until=functools.partial(operator.eq, sent[producer]),
            )

        # A malformed event is dead-lettered by each consumer into its own incidents.deadletter.<durable>.
        for producer, subject in (
            ("collector", SUBJECT_POST_COLLECTED),
            ("classifier", SUBJECT_POST_CLASSIFIED),
            ("routing", "incidents.v1.incident.created.64"),
            ("routing", "incidents.v1.alert.surge.64"),
            ("routing", "incidents.v1.classification.corrected.64"),
            ("collector", "incidents.v1.reply.publication.64"),
            ("routing", "incidents.v1.reply.requested.64"),
            ("classifier", "incidents.v1.reaction.classified.64"),
            ("collector", "incidents.v1.reaction.collected.64"),
        ):
            js = runtimes[producer].js
            assert js is not None
            await js.publish(subject, b"not a cloud event")
        consumers = [c for runtime in runtimes.values() for c in runtime.consumers]

        async def dead_lettered() -> list[int]:
            return [c.stats.dead_lettered for c in consumers]

        await eventually(dead_lettered, until=lambda counts: counts == [1] * len(consumers))
        js = runtimes["api-gateway"].js
        assert js is not None
        assert (await js.stream_info("DEADLETTER")).state.messages == len(consumers)
        assert received == {
            "classifier-post-collected": ["ru.incidents.post.collected"],
            "routing-post-classified": ["ru.incidents.post.classified"],
            "gateway-post-classified": ["ru.incidents.post.classified"],
            "gateway-incident-events": ["ru.incidents.incident.created"],
            "gateway-alert-events": ["ru.incidents.alert.surge"],
            "routing-reply-publication": ["ru.incidents.reply.publication"],
            "collector-reply-requested": ["ru.incidents.reply.requested"],
            "routing-reaction-classified": ["ru.incidents.reaction.classified"],
            "classifier-reaction-collected": ["ru.incidents.reaction.collected"],
        }
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
            await runtime.db.dispose()


async def test_a_stream_prefix_is_part_of_the_permissions(tmp_path: Path) -> None:
    auth = prepare_local_nats(tmp_path, stream_prefixes={"classifier": "blue-"})
    server = NatsServer(tmp_path / "jetstream", config_file=auth.config_file).start()
    try:
        secured = Secured(server, auth, tmp_path)
        runtime = _service_runtime("classifier", secured, tmp_path, stream_prefix="blue-")
        await runtime.db.create_tables()
        await runtime.start()
        try:
            await asyncio.wait_for(runtime.ready.wait(), timeout=20)
            js = runtime.js
            assert js is not None

            async def prefixed_consumer() -> Any:
                with contextlib.suppress(NotFoundError):
                    return await js.consumer_info("POSTS", "blue-classifier-post-collected")
                return None

            info = await eventually(prefixed_consumer, timeout=10)
            assert info.config.filter_subject == SUBJECT_POST_COLLECTED
        finally:
            await runtime.stop()
            await runtime.db.dispose()
        errors: list[Exception] = []
        nc = await _connect_as(server.url, "classifier", secured.password("classifier"), errors)
        try:  # the unprefixed name is not this deployment's: refused
            with pytest.raises(nats.errors.TimeoutError):
                await nc.jetstream(timeout=0.5).pull_subscribe(
                    SUBJECT_POST_COLLECTED, durable="classifier-post-collected", stream="POSTS"
                )
            await _violation(errors, "consumer.info.posts.classifier-post-collected")
        finally:
            await nc.close()
    finally:
        server.stop()


async def test_the_classifier_cannot_publish_incident_events(secured: Secured) -> None:
    errors: list[Exception] = []
    nc = await _connect_as(secured.server.url, "classifier", secured.password("classifier"), errors)
    try:
        js = nc.jetstream(timeout=1)
        await ensure_streams(js)
        ack = await js.publish(SUBJECT_POST_CLASSIFIED, b"{}")  # its own subjects: stored
        assert ack.stream == "POSTS"
        assert (await js.publish(SUBJECT_POST_NOISE, b"{}")).stream == "POSTS"
        with pytest.raises(nats.errors.TimeoutError):  # no stream ack: the server dropped it
            await js.publish("incidents.v1.incident.created.64", b"forged incident")
        await _violation(errors, 'permissions violation for publish to "incidents.v1.incident.created.64"')
        # Nor the posts it consumes (it replays its dead letters in-process), nor another's dead letters.
        with pytest.raises(nats.errors.TimeoutError):
            await js.publish(SUBJECT_POST_COLLECTED, b"forged post")
        await _violation(errors, 'publish to "incidents.v1.post.collected"')
        with pytest.raises(nats.errors.TimeoutError):
            await js.publish("incidents.deadletter.routing-post-classified", b"forged dead letter")
        await _violation(errors, 'publish to "incidents.deadletter.routing-post-classified"')
        with pytest.raises(nats.errors.TimeoutError):  # not its durable
            await js.pull_subscribe(SUBJECT_POST_CLASSIFIED, durable="routing-post-classified", stream="POSTS")
        await _violation(errors, "consumer.info.posts.routing-post-classified")
        with pytest.raises(nats.errors.TimeoutError):  # its durable, another filter
            await js.pull_subscribe(SUBJECT_POST_CLASSIFIED, durable="classifier-post-collected", stream="POSTS")
        await _violation(errors, "consumer.create.posts.classifier-post-collected.incidents.v1.post.classified")
        assert (await js.stream_info("INCIDENTS")).state.messages == 0
    finally:
        await nc.close()


async def test_the_collector_cannot_read_incidents(secured: Secured) -> None:
    routing = await connect(
        secured.server.url, "routing", attempts=1, user="routing", password=secured.password("routing")
    )
    errors: list[Exception] = []
    nc = await _connect_as(secured.server.url, "collector", secured.password("collector"), errors)
    try:
        await ensure_streams(routing.jetstream())
        await routing.jetstream().publish("incidents.v1.incident.created.64", b"an incident")
        js = nc.jetstream(timeout=0.5)
        with pytest.raises(nats.errors.TimeoutError):  # no consumer of its own on INCIDENTS …
            await js.pull_subscribe(SUBJECT_INCIDENT_ALL, durable="gateway-incident-events", stream="INCIDENTS")
        await _violation(errors, "consumer.info.incidents.gateway-incident-events")
        with pytest.raises(nats.errors.TimeoutError):  # … no direct read …
            await js.get_msg("INCIDENTS", 1)
        await _violation(errors, "stream.msg.get.incidents")
        # … no classified post of its own making, complaint or chatter …
        for subject in (SUBJECT_POST_CLASSIFIED, SUBJECT_POST_NOISE):
            with pytest.raises(nats.errors.TimeoutError):
                await js.publish(subject, b"forged classification")
            await _violation(errors, f'publish to "{subject}"')
        # … no core subscription to the events, nor to other clients' replies.
        await nc.subscribe("incidents.v1.incident.>")
        await nc.subscribe("_INBOX.>")
        await nc.flush()
        await _violation(errors, 'subscription to "incidents.v1.incident.>"', 'subscription to "_inbox.>"')
    finally:
        await nc.close()
        await routing.close()


# ---------------------------------------------------------------------------------------------
# Region subscribers
# ---------------------------------------------------------------------------------------------


async def test_region_64_consumes_its_events_and_is_refused_region_77(secured: Secured) -> None:
    routing = await connect(
        secured.server.url, "routing", attempts=1, user="routing", password=secured.password("routing")
    )
    errors: list[Exception] = []
    region = await _connect_as(secured.server.url, region_user("64"), secured.password("region64"), errors)
    try:
        js = routing.jetstream()
        await ensure_streams(js)
        await js.publish("incidents.v1.incident.created.64", b"event of 64")
        await js.publish("incidents.v1.incident.assigned.77", b"event of 77")
        await js.publish("incidents.v1.incident.status_changed.64", b"second event of 64")
        assert inbox_prefix("64") == "_INBOX_region64"

        rjs = region.jetstream(timeout=2)
        mine = await rjs.pull_subscribe(
            "incidents.v1.incident.*.64",
            durable="region64",
            stream="INCIDENTS",
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
        )
        messages = await mine.fetch(10, timeout=2)
        assert [m.data for m in messages] == [b"event of 64", b"second event of 64"]
        for message in messages:
            await message.ack()

        # Region 77's events: through a consumer with 77's filter (any name) … (a refusal is a
        # permissions violation reported asynchronously, so the request itself times out)
        rjs = region.jetstream(timeout=0.5)
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.incident.*.77", durable="sneaky", stream="INCIDENTS")
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.incident.>", durable="region77", stream="INCIDENTS")
        # Its own consumer name with another filter: re-creating it is refused too.
        assert await rjs.delete_consumer("INCIDENTS", "region64")
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.incident.*.77", durable="region64", stream="INCIDENTS")
        # … through a direct read of the stream …
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.get_msg("INCIDENTS", 2)
        # … or through a core subscription.
        await region.subscribe("incidents.v1.incident.*.77")
        await region.subscribe("_INBOX.>")
        await region.flush()
        violations = await _violation(
            errors,
            "permissions violation for publish",
            "consumer.create.incidents.region64.incidents.v1.incident.*.77",
            'subscription to "incidents.v1.incident.*.77"',
            'subscription to "_inbox.>"',
        )
        assert "stream.msg.get.incidents" in violations
    finally:
        await region.close()
        await routing.close()


async def test_another_region_cannot_use_64s_consumer(secured: Secured) -> None:
    errors: list[Exception] = []
    other = await _connect_as(secured.server.url, region_user("77"), secured.password("region77"), errors)
    try:
        rjs = other.jetstream(timeout=0.5)
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.incident.*.64", durable="region64", stream="INCIDENTS")
        await _violation(errors, "permissions violation", "consumer.info.incidents.region64")
    finally:
        await other.close()


async def _reads_only_its_own(routing: Any, region: Any, *, subject: str, filter_subject: str, durable: str) -> None:
    """Routing publishes one event for 64 and one for 77; region 64's durable gets its own only."""
    js = routing.jetstream()
    await ensure_streams(js)
    for code in ("64", "77"):
        await js.publish(subject.format(code=code), f"event in {code}".encode())
    mine = await region.jetstream(timeout=2).pull_subscribe(filter_subject, durable=durable, stream="INCIDENTS")
    messages = await mine.fetch(10, timeout=2)
    assert [m.data for m in messages] == [b"event in 64"]
    for message in messages:
        await message.ack()


async def test_region_64_reads_its_corrections_and_no_other_regions(secured: Secured) -> None:
    """The operators' corrections (classifier feedback) name posts and their texts: a region's
    subscriber reads its own through `region64-corrections`, never 77's, and cannot forge one."""
    routing = await connect(
        secured.server.url, "routing", attempts=1, user="routing", password=secured.password("routing")
    )
    errors: list[Exception] = []
    region = await _connect_as(secured.server.url, region_user("64"), secured.password("region64"), errors)
    other = await _connect_as(secured.server.url, region_user("77"), secured.password("region77"), errors)
    try:
        await _reads_only_its_own(
            routing,
            region,
            subject="incidents.v1.classification.corrected.{code}",
            filter_subject="incidents.v1.classification.corrected.64",
            durable="region64-corrections",
        )

        rjs = region.jetstream(timeout=0.5)
        # 77's corrections through another consumer name, or through its own name with 77's filter.
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe(
                "incidents.v1.classification.corrected.77", durable="region64-corrections-77", stream="INCIDENTS"
            )
        await _violation(errors, "permissions violation", "consumer.info.incidents.region64-corrections-77")
        errors.clear()
        assert await rjs.delete_consumer("INCIDENTS", "region64-corrections")
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe(
                "incidents.v1.classification.corrected.77", durable="region64-corrections", stream="INCIDENTS"
            )
        await _violation(
            errors,
            "permissions violation",
            "consumer.create.incidents.region64-corrections.incidents.v1.classification.corrected.77",
        )
        errors.clear()
        with pytest.raises(nats.errors.TimeoutError):
            await other.jetstream(timeout=0.5).pull_subscribe(
                "incidents.v1.classification.corrected.64", durable="region64-corrections", stream="INCIDENTS"
            )
        await _violation(errors, "permissions violation", "consumer.info.incidents.region64-corrections")
        errors.clear()
        # Publishing a correction is routing's alone.
        await region.publish("incidents.v1.classification.corrected.64", b"forged")
        await region.flush()
        await _violation(errors, "permissions violation for publish", "incidents.v1.classification.corrected.64")
    finally:
        await region.close()
        await other.close()
        await routing.close()


# ---------------------------------------------------------------------------------------------
# The command line and the example subscriber
# ---------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "incidents_common.natsauth", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_cli_explains_itself_and_refuses_bad_requests(tmp_path: Path) -> None:
    helped = _cli("--help")
    assert helped.returncode == 0 and "region-credentials" in helped.stdout and "exit codes" in helped.stdout
    unknown = _cli("region-credentials", "99", "--data-dir", str(tmp_path))
    assert unknown.returncode == 2 and "unknown region code '99'" in unknown.stderr and unknown.stdout == ""
    assert _cli("rotate", "nobody", "--data-dir", str(tmp_path)).returncode == 2
    assert _cli("render", "--no-regions", "--region", "64").returncode == 2
    assert _cli().returncode == 2
    (tmp_path / "secrets" / "nats").mkdir(parents=True, exist_ok=True)
    (tmp_path / "secrets" / "nats" / "routing.json").write_text("{broken")
    broken = _cli("list", "--data-dir", str(tmp_path))
    assert broken.returncode == 1 and "unreadable credentials file" in broken.stderr


class Subscriber:
    """infra/nats/region_subscriber.py as a child process, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.tail = ""

    @classmethod
    async def start(cls, url: str, credentials: Path, *extra: str) -> Subscriber:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SUBSCRIBER),
            "--url",
            url,
            "--credentials",
            str(credentials),
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def line(self, timeout: float = 20) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout=timeout)
        assert raw, f"the subscriber exited (code {await self.process.wait()})"
        return raw.decode().strip()

    async def stop(self) -> int:
        """SIGINT, like Ctrl-C; the exit code. What it printed after that is kept in `tail`."""
        if self.process.returncode is None:
            self.process.send_signal(2)
        code = await asyncio.wait_for(self.process.wait(), timeout=20)
        assert self.process.stdout is not None
        self.tail = (await self.process.stdout.read()).decode(errors="replace")
        return code


async def test_cli_issued_credentials_let_the_example_subscriber_consume_ack_and_resume(tmp_path: Path) -> None:
    auth = prepare_local_nats(tmp_path)
    server = NatsServer(tmp_path / "jetstream", config_file=auth.config_file).start()
    routing = await connect(
        server.url, "routing", attempts=1, user="routing", password=auth.credentials["routing"].password
    )
    subscriber: Subscriber | None = None
    try:
        js = routing.jetstream()
        await ensure_streams(js)
        store = CredentialStore(tmp_path)
        await eventually(lambda: asyncio.to_thread(store.running_server_pid), until=lambda pid: pid is not None)
        assert store.running_server_pid() == server.process.pid  # type: ignore[union-attr]

        # Issued while the server runs: the CLI regenerates the config and makes the server reload it.
        issued = _cli("region-credentials", "64", "--data-dir", str(tmp_path))
        assert issued.returncode == 0, issued.stderr
        credentials = json.loads(issued.stdout)
        assert {k: credentials[k] for k in ("user", "inbox_prefix", "stream", "durable", "filter_subject")} == {
            "user": "region64",
            "inbox_prefix": "_INBOX_region64",
            "stream": "INCIDENTS",
            "durable": "region64",
            "filter_subject": "incidents.v1.incident.*.64",
        }
        assert credentials["status"] == "issued" and len(credentials["password"]) >= 32
        # Every durable the region user may bind is named, with its filter.
        assert (credentials["alerts_durable"], credentials["alerts_filter_subject"]) == (
            "region64-alerts",
            "incidents.v1.alert.*.64",
        )
        assert credentials["corrections_durable"] == "region64-corrections"
        assert credentials["reloaded_server_pid"] == server.process.pid  # type: ignore[union-attr]
        assert f"pid {server.process.pid}" in issued.stderr  # type: ignore[union-attr]
        issued_file = tmp_path / "region64-credentials.json"
        issued_file.write_text(issued.stdout)

        listed = _cli("list", "--data-dir", str(tmp_path))
        assert listed.returncode == 0
        users = json.loads(listed.stdout)
        services = {"collector", "classifier", "routing", "api-gateway"}
        assert {u["user"] for u in users} == services | {"operator", "region64"}
        assert credentials["password"] not in listed.stdout and all("password" not in u for u in users)

        await _publish_as_routing(tmp_path, server.url, auth, _incident("first-64", "64"), _incident("other-77", "77"))

        subscriber = await Subscriber.start(server.url, issued_file)
        assert (await subscriber.line()).startswith("ready: consumer region64 on INCIDENTS")
        first = await subscriber.line()
        assert "ru.incidents.incident.created incident=first-64" in first and first.endswith("acked")
        assert await subscriber.stop() == 0, subscriber.tail

        await _publish_as_routing(tmp_path, server.url, auth, _incident("second-64", "64"))

        subscriber = await Subscriber.start(server.url, CredentialStore(tmp_path).path_of("region64"))
        assert (await subscriber.line()).startswith("ready: consumer region64")
        resumed = await subscriber.line()
        assert "incident=second-64" in resumed, f"the durable consumer should resume after first-64: {resumed}"
        # Idle through several empty fetches (one a second), then the next event still arrives:
        # an empty fetch once ended the subscriber with a TimeoutError (line() then says it exited).
        await asyncio.sleep(6)
        await _publish_as_routing(tmp_path, server.url, auth, _incident("third-64", "64"))
        assert "incident=third-64" in await subscriber.line()
        assert await subscriber.stop() == 0, subscriber.tail

        # --max-events takes no more than it will ack: a run that stops after one event leaves the next
        # to the next run at once, not after the server's ack wait (60 s; line() waits 20).
        await _publish_as_routing(tmp_path, server.url, auth, _incident("fourth-64", "64"), _incident("fifth-64", "64"))
        once = await Subscriber.start(server.url, issued_file, "--max-events", "1")
        assert (await once.line()).startswith("ready: consumer region64")
        assert "incident=fourth-64" in await once.line()
        assert await asyncio.wait_for(once.process.wait(), timeout=20) == 0
        subscriber = await Subscriber.start(server.url, issued_file)
        assert (await subscriber.line()).startswith("ready: consumer region64")
        assert "incident=fifth-64" in await subscriber.line()
        assert await subscriber.stop() == 0, subscriber.tail

        # A wrong (say, rotated) password ends the subscriber at once with a reason, not after
        # endless reconnects that Ctrl-C could not stop.
        refused = await Subscriber.start(server.url, issued_file, "--password", "not-the-password")
        try:
            code = await asyncio.wait_for(refused.process.wait(), timeout=15)
        finally:
            if refused.process.returncode is None:
                refused.process.kill()  # it ignored SIGINT while reconnecting
        output = (await refused.process.stdout.read()).decode()  # type: ignore[union-attr]
        assert code != 0 and "refused the credentials of region64" in output, output
        assert "Traceback" not in output, output
        subscriber = None
        region = await nats.connect(
            server.url, user="region64", password=credentials["password"], inbox_prefix="_INBOX_region64"
        )
        info = await region.jetstream().consumer_info("INCIDENTS", "region64")
        await region.close()
        assert info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.stream_seq == 6
    finally:
        if subscriber is not None:
            await subscriber.stop()
        await routing.close()
        server.stop()


async def _publish_as_routing(tmp_path: Path, url: str, auth: LocalNatsAuth, *events: IncidentCreated) -> None:
    """Queue `events` in an outbox and let the real relay publish them with routing's own user."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", [])
    await db.create_tables()
    async with db.transaction() as session:
        for data in events:
            publish(session, data, source="/services/routing")
    runtime = EventRuntime(
        db=db, nats_url=url, client_name="routing", user="routing", password=auth.credentials["routing"].password
    )
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.ready.wait(), timeout=20)
        await eventually(lambda: _outbox_size(db), until=lambda n: n == 0)
    finally:
        await runtime.stop()
        await db.dispose()


async def _published(runtime: EventRuntime) -> int:
    return runtime.relay.published


async def _outbox_size(db: Database) -> int:
    from sqlmodel import func, select

    from incidents_common.db import OutboxMessage

    async with db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(OutboxMessage))).one()


async def test_region_64_reads_its_surge_alerts_and_no_other_regions(secured: Secured) -> None:
    """Surge alerts reach a region's subscriber through `region64-alerts`; 77's never do, and only
    routing may raise one."""
    routing = await connect(
        secured.server.url, "routing", attempts=1, user="routing", password=secured.password("routing")
    )
    errors: list[Exception] = []
    region = await _connect_as(secured.server.url, region_user("64"), secured.password("region64"), errors)
    try:
        await _reads_only_its_own(
            routing,
            region,
            subject="incidents.v1.alert.surge.{code}",
            filter_subject="incidents.v1.alert.*.64",
            durable="region64-alerts",
        )
        rjs = region.jetstream(timeout=0.5)
        assert await rjs.delete_consumer("INCIDENTS", "region64-alerts")
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.alert.*.77", durable="region64-alerts", stream="INCIDENTS")
        await _violation(
            errors, "permissions violation", "consumer.create.incidents.region64-alerts.incidents.v1.alert.*.77"
        )
        errors.clear()
        await region.publish("incidents.v1.alert.surge.64", b"forged")
        await region.flush()
        await _violation(errors, "permissions violation for publish", "incidents.v1.alert.surge.64")
    finally:
        await region.close()
        await routing.close()
