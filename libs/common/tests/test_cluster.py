"""A 3-node JetStream cluster (real nats-server processes on 127.0.0.1, authenticated clients and routes).

The committed example configs are the generated ones and nats-server accepts them; a service start
keeps replicas an operator raised; events published through the real outbox relay and consumed by a
real durable consumer are all consumed exactly once while the stream leader is killed (-9) and
later restarted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlmodel import Field, SQLModel, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, OutboxMessage, publish
from incidents_common.events import SUBJECT_POST_COLLECTED, CloudEvent, PostCollected, SourceType
from incidents_common.nats import ConsumerSpec, EventRuntime, connect, each_event, inbox_prefix_of
from incidents_common.natsauth import (
    ROUTE_PASSWORD_VARIABLE,
    SERVICES,
    BadRequest,
    env_password_variable,
    example_cluster,
    render_cluster_node,
)
from incidents_common.processes import NatsCluster, free_port, nats_server_binary
from incidents_common.streams import configured_streams, ensure_streams
from incidents_common.testing import eventually

pytestmark = pytest.mark.slow  # a long test: started first (incidents_common.testing)

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_DIR = ROOT / "infra" / "nats" / "cluster"
DURABLE = "classifier-post-collected"  # the classifier's durable: its user may consume it


class ClusterSeenPost(SQLModel, table=True):
    """One row per handler run that committed: a duplicate processing would show as a second row."""

    __tablename__ = "test_cluster_seen_post"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One credential store (the four service users) for every cluster of this module."""
    return tmp_path_factory.mktemp("cluster-auth")


@pytest.fixture
def cluster(tmp_path: Path, store: Path) -> Any:
    with NatsCluster(tmp_path / "cluster", data_dir=store) as running:
        yield running


async def _connect(cluster: NatsCluster, user: str) -> Any:
    name, password = cluster.credentials[user]
    return await nats.connect(cluster.urls, user=name, password=password, inbox_prefix=inbox_prefix_of(name))


# ---------------------------------------------------------------------------------------------
# The committed configs
# ---------------------------------------------------------------------------------------------


def test_the_committed_cluster_configs_are_the_generated_ones() -> None:
    nodes = example_cluster()
    for node in nodes:
        path = CLUSTER_DIR / f"{node.name}.conf"
        assert path.read_text(encoding="utf-8") == render_cluster_node(node, nodes), (
            f"{path.relative_to(ROOT)} is stale: run python infra/nats/cluster/render.py"
        )


def test_nats_server_accepts_the_committed_configs_with_their_variables_set() -> None:
    env = {variable: f"p{i}secret" for i, variable in enumerate(env_password_variable(u) for u in SERVICES)}
    env[ROUTE_PASSWORD_VARIABLE] = "routesecret"
    nodes = example_cluster()
    env |= {node.route_variable: node.route_url("routesecret") for node in nodes}
    for node in nodes:
        config = str(CLUSTER_DIR / f"{node.name}.conf")
        checked = subprocess.run(  # noqa: S603 - fixed argv; -t: check the config and exit
            [nats_server_binary(), "-t", "-c", config], env={**os.environ, **env}, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        without_route_password = {k: v for k, v in env.items() if k != ROUTE_PASSWORD_VARIABLE}
        refused = subprocess.run(  # noqa: S603
            [nats_server_binary(), "-t", "-c", config],
            env={**os.environ, **without_route_password},
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0 and ROUTE_PASSWORD_VARIABLE in refused.stderr


def test_production_configs_put_one_node_on_each_host(tmp_path: Path) -> None:
    hosts = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    nodes = example_cluster(hosts, "/srv/nats")
    texts = {node.name: render_cluster_node(node, nodes, options=" --hosts ...") for node in nodes}
    assert 'listen: "10.0.0.12:4222"' in texts["n2"] and 'listen: "10.0.0.12:6222"' in texts["n2"]
    assert "$NATS_ROUTE_N1" in texts["n2"] and "$NATS_ROUTE_N3" in texts["n2"] and "$NATS_ROUTE_N2" not in texts["n2"]
    assert "NATS_ROUTE_N1=nats-route://route:<password>@10.0.0.11:6222" in texts["n2"]
    assert 'store_dir: "/srv/nats"' in texts["n3"] and "sync_interval: always" in texts["n3"]
    with pytest.raises(BadRequest):
        example_cluster(["a", "a", "b"])


# ---------------------------------------------------------------------------------------------
# A running cluster
# ---------------------------------------------------------------------------------------------


async def test_the_cluster_is_authenticated_and_its_routes_log_in(cluster: NatsCluster, tmp_path: Path) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(cluster.urls, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=1)
    for node in cluster.nodes:
        config = cluster.config_file(node.name)
        assert (
            f'password: "{cluster.route_password}"' in config.read_text()
            and "sync_interval: always" in config.read_text()
        )
        assert config.stat().st_mode & 0o077 == 0  # it holds the route password
    # A server that knows a node's route port but not the route password is refused.
    stranger_log = tmp_path / "stranger.log"
    port = free_port()
    wrong_route = f"nats-route://route:wrong@127.0.0.1:{cluster.nodes[0].cluster_port}"
    command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "--cluster_name", "incidents"]
    command += ["--cluster", f"nats://127.0.0.1:{free_port()}", "--routes", wrong_route, "-l", str(stranger_log)]
    stranger = await asyncio.create_subprocess_exec(*command)
    try:
        await eventually(lambda: _text(stranger_log), until=lambda text: "Authorization Violation" in text, timeout=10)
    finally:
        stranger.terminate()
        await stranger.wait()

    nc = await _connect(cluster, "collector")
    try:
        js = nc.jetstream()
        await ensure_streams(js, configured_streams(replicas=3))
        info = await js.stream_info("POSTS")
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader in cluster.names
        assert sorted([info.cluster.leader, *(peer.name for peer in info.cluster.replicas or [])]) == cluster.names
    finally:
        await nc.close()


async def test_a_start_keeps_the_replicas_an_operator_raised(
    cluster: NatsCluster, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await _connect(cluster, "collector")
    try:
        js = nc.jetstream()
        await ensure_streams(js)  # the defaults: one replica each
        assert (await js.stream_info("POSTS")).config.num_replicas == 1
        config = (await js.stream_info("POSTS")).config
        config.num_replicas = 3  # the operator scales POSTS up by hand
        await js.update_stream(config)

        await ensure_streams(js)  # a service restarts with the defaults
        assert (await js.stream_info("POSTS")).config.num_replicas == 3
        assert "stream POSTS: replicas: configured 1, the stream has 3; kept 3" in caplog.messages

        await ensure_streams(js, configured_streams(replicas=3))  # configured higher: raised
        for name in ("POSTS", "INCIDENTS", "DEADLETTER"):
            info = await js.stream_info(name)
            assert info.config.num_replicas == 3, name

        # More replicas than nodes: the server refuses, the stream stays as it is, the start goes on.
        await ensure_streams(js, configured_streams({}, replicas=5))
        assert (await js.stream_info("POSTS")).config.num_replicas == 3
        assert any("update refused" in message for message in caplog.messages)
    finally:
        await nc.close()


async def test_a_comma_separated_nats_url_reaches_the_cluster(cluster: NatsCluster) -> None:
    user, password = cluster.credentials["collector"]
    nc = await connect(cluster.url, "collector", attempts=1, user=user, password=password)
    await nc.close()


def _post(n: int) -> PostCollected:
    now = datetime.now(UTC)
    return PostCollected(
        post_id=f"cluster-{n}",
        source_type=SourceType.push,
        external_id=str(n),
        text=f"Не горит фонарь у дома {n}",
        published_at=now,
        collected_at=now,
    )


async def test_no_acknowledged_event_is_lost_or_doubled_when_the_stream_leader_dies(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    """kill -9 of the POSTS leader while the relay publishes, a batch while it is down, a batch after
    it is back: every event is consumed exactly once, the stream holds each exactly once."""
    batch, big = 100, 1000  # the relay publishes 100 rows a pass: the kill comes in the middle of `big`
    producer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'collector.db'}", [])
    consumer_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'classifier.db'}", [ClusterSeenPost])
    for db in (producer_db, consumer_db):
        await db.create_tables()

    async def handle(session: AsyncSession, event: CloudEvent[Any]) -> None:
        session.add(ClusterSeenPost(event_id=event.id))

    async def consumed() -> list[str]:
        async with consumer_db.transaction() as session:
            return list((await session.exec(select(ClusterSeenPost.event_id))).all())

    async def queue(first: int, count: int = batch) -> list[str]:
        async with producer_db.transaction() as session:
            return [publish(session, _post(n), source="/services/collector").id for n in range(first, first + count)]

    async def outbox() -> int:
        async with producer_db.transaction() as session:
            return int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())

    admin = await _connect(cluster, "collector")
    js = admin.jetstream()
    await ensure_streams(js, configured_streams(replicas=3))  # as COLLECTOR_STREAM_REPLICAS=3 would

    def runtime(user: str, db: Database, consumers: list[ConsumerSpec]) -> EventRuntime:
        name, password = cluster.credentials[user]
        return EventRuntime(
            db=db,
            nats_url=",".join(cluster.urls),  # as <PREFIX>NATS_URL names a cluster
            client_name=user,
            consumers=consumers,
            outbox_batch=batch,
            user=name,
            password=password,
        )

    producer = runtime("collector", producer_db, [])
    spec = ConsumerSpec(DURABLE, "POSTS", SUBJECT_POST_COLLECTED, each_event(handle), fetch_timeout=0.5)
    receiver = runtime("classifier", consumer_db, [spec])
    published: list[str] = []
    try:
        for events in (producer, receiver):
            await events.start()
            await eventually(lambda events=events: _ready(events), timeout=20)
        # Their own ensure_streams ran with the defaults (one replica): the three stay.
        assert (await js.stream_info("POSTS")).config.num_replicas == 3

        published += await queue(0)
        await eventually(consumed, until=lambda ids: len(ids) >= batch, timeout=20)

        leader = (await js.stream_info("POSTS")).cluster.leader  # type: ignore[union-attr]
        published += await queue(batch, big)
        await eventually(_published(producer), until=lambda n: n >= 3 * batch)  # the relay is under way ...
        cluster.kill_node(leader)  # ... when the leader dies
        published += await queue(batch + big)  # and more while it is down
        total = 2 * batch + big
        await eventually(consumed, until=lambda ids: len(ids) >= total, timeout=45)
        new_leader = await eventually(lambda: _leader(js), until=lambda name: name not in (None, leader))

        cluster.start_node(leader)  # back on its storage: healthy once it has caught up
        published += await queue(total)
        total += batch
        ids = await eventually(consumed, until=lambda ids: len(ids) >= total, timeout=30)

        assert len(ids) == len(published) == total
        assert Counter(ids) == Counter(published)  # each exactly once, none missing, none doubled
        await eventually(outbox, until=lambda rows: rows == 0)  # every row acknowledged and deleted
        info = await js.stream_info("POSTS")
        assert info.state.messages == total  # the re-published ones were de-duplicated (Nats-Msg-Id)
        assert new_leader != leader and info.config.num_replicas == 3
        # The restarted node is back in the group and current (caught up from the others).
        await eventually(lambda: _group(js), until=lambda group: sorted(group) == cluster.names and all(group.values()))
    finally:
        await producer.stop()
        await receiver.stop()
        await admin.close()
        await producer_db.dispose()
        await consumer_db.dispose()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def _text(path: Path) -> str:
    return await asyncio.to_thread(_read, path)


def _published(events: EventRuntime) -> Any:
    async def probe() -> int:
        return events.relay.published

    return probe


async def _ready(events: EventRuntime) -> bool:
    return events.ready.is_set()


async def _leader(js: Any) -> str | None:
    try:
        info = await js.stream_info("POSTS")
    except Exception:  # noqa: BLE001 - no leader to answer yet
        return None
    return info.cluster.leader if info.cluster else None


async def _group(js: Any) -> dict[str, bool]:
    """The nodes of the POSTS group and whether each is current (the leader is)."""
    try:
        info = await js.stream_info("POSTS")
    except Exception:  # noqa: BLE001 - a node that just came back may not answer yet
        return {}
    if info.cluster is None or info.cluster.leader is None:
        return {}
    return {info.cluster.leader: True} | {peer.name: bool(peer.current) for peer in info.cluster.replicas or []}
