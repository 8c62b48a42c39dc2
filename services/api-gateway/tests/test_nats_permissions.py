"""infra/nats/regions.conf against a real nats-server: region 64 reads region 64's events, never 77's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from api_gateway.natsconf import inbox_prefix, region_user, render
from incidents_common.nats import ensure_streams
from incidents_common.processes import NatsServer

CONFIG = Path(__file__).resolve().parents[3] / "infra" / "nats" / "regions.conf"


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = NatsServer(tmp_path_factory.mktemp("nats-regions"), config_file=CONFIG).start()
    yield server
    server.stop()


async def _connect_region(url: str, code: str, errors: list[Exception]) -> Any:
    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    return await nats.connect(
        url,
        user=region_user(code),
        password=f"{region_user(code)}-change-me",
        inbox_prefix=inbox_prefix(code),
        error_cb=on_error,
        max_reconnect_attempts=0,
    )


def test_the_committed_config_is_the_generated_one() -> None:
    assert CONFIG.read_text() == render(), "regenerate: python -m api_gateway nats-config > infra/nats/regions.conf"


async def test_region_64_consumes_its_events_and_is_refused_region_77(secured_nats: NatsServer) -> None:
    services = await nats.connect(secured_nats.url, user="services", password="services-change-me")
    errors: list[Exception] = []
    region = await _connect_region(secured_nats.url, "64", errors)
    try:
        js = services.jetstream()
        await ensure_streams(js)
        await js.publish("incidents.v1.incident.created.64", b"event of 64")
        await js.publish("incidents.v1.incident.assigned.77", b"event of 77")
        await js.publish("incidents.v1.incident.status_changed.64", b"second event of 64")

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
        sniffer = await region.subscribe("incidents.v1.incident.*.77")
        wide = await region.subscribe("_INBOX.>")
        await region.flush()
        await services.publish("incidents.v1.incident.created.77", b"live 77")
        await asyncio.sleep(0.3)
        with pytest.raises(nats.errors.TimeoutError):
            await sniffer.next_msg(timeout=0.2)
        with pytest.raises(nats.errors.TimeoutError):
            await wide.next_msg(timeout=0.2)
        violations = " ".join(str(e) for e in errors).lower()
        assert "permissions violation for publish" in violations
        assert "consumer.create.incidents.region64.incidents.v1.incident.*.77" in violations
        assert 'subscription to "incidents.v1.incident.*.77"' in violations
        assert 'subscription to "_inbox.>"' in violations
    finally:
        await region.close()
        await services.close()


async def test_another_region_cannot_use_64s_consumer(secured_nats: NatsServer) -> None:
    errors: list[Exception] = []
    other = await _connect_region(secured_nats.url, "77", errors)
    try:
        rjs = other.jetstream(timeout=0.5)
        with pytest.raises(nats.errors.TimeoutError):
            await rjs.pull_subscribe("incidents.v1.incident.*.64", durable="region64", stream="INCIDENTS")
        assert any("permissions violation" in str(e).lower() for e in errors)
    finally:
        await other.close()
