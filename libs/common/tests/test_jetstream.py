"""Pulling batches and publishing with acks, against a real nats-server: what nats-py's fetch and
publish_async did for the consumers and the outbox relay, with the server's answers checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, StorageType, StreamConfig

from incidents_common.jetstream import ConsumerGone, PublishAcks, PublishFailed, PullBatches
from incidents_common.processes import NatsServer


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[NatsClient]:
    server = NatsServer(tmp_path / "jetstream").start()
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(StreamConfig(name="T", subjects=["t.>"], storage=StorageType.FILE))
        yield nc
    finally:
        await nc.close()
        server.stop()


async def _durable(js: JetStreamContext, name: str, *, ack_wait: float = 30.0) -> None:
    await js.add_consumer(
        "T", ConsumerConfig(durable_name=name, filter_subject="t.>", ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait)
    )


async def _publish(js: JetStreamContext, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        await js.publish("t.x", f"m{n}".encode())


async def test_a_backlog_comes_in_full_batches_in_order(client: NatsClient) -> None:
    js = client.jetstream()
    await _durable(js, "bulk")
    await _publish(js, 25)
    batches = await PullBatches(client, "T", "bulk").start()
    try:
        first = await batches.fetch(10, timeout=1)
        second = await batches.fetch(10, timeout=1)
        third = await batches.fetch(10, timeout=1)
        assert [len(first), len(second), len(third)] == [10, 10, 5]
        assert [m.data for m in first + second + third] == [f"m{n}".encode() for n in range(25)]
        for msg in first + second + third:
            await msg.ack()
        with pytest.raises(TimeoutError):
            await batches.fetch(10, timeout=0.2)  # drained
    finally:
        await batches.close()


async def test_a_quiet_stream_is_waited_on_and_a_new_message_is_returned(client: NatsClient) -> None:
    js = client.jetstream()
    await _durable(js, "quiet")
    batches = await PullBatches(client, "T", "quiet").start()
    try:
        waiting = asyncio.create_task(batches.fetch(1, timeout=5))
        await asyncio.sleep(0.2)  # the lingering request is on the server before the message
        await _publish(js, 1)
        got = await asyncio.wait_for(waiting, 3)  # a full batch returns at once, before the expiry
        assert [m.data for m in got] == [b"m0"]
        assert got[0].metadata.num_delivered == 1
    finally:
        await batches.close()


async def test_messages_never_fetched_are_handed_back_at_close(client: NatsClient) -> None:
    js = client.jetstream()
    await _durable(js, "handback", ack_wait=60)
    await _publish(js, 3)
    batches = await PullBatches(client, "T", "handback").start()
    # Messages a request brought after its fetch returned (a fetch that gave up on a slow server).
    await batches._request(3, expires=None)
    for _ in range(100):
        if batches.buffered == 3:
            break
        await asyncio.sleep(0.05)
    assert batches.buffered == 3
    await batches.close()
    other = await PullBatches(client, "T", "handback").start()
    try:
        # Without the nak they would come back only after ack_wait (60 s).
        again = await asyncio.wait_for(other.fetch(5, timeout=1), 5)
        assert [m.data for m in again] == [b"m0", b"m1", b"m2"]
        assert {m.metadata.num_delivered for m in again} == {2}
    finally:
        await other.close()


async def test_a_deleted_consumer_is_reported(client: NatsClient) -> None:
    js = client.jetstream()
    await _durable(js, "gone")
    batches = await PullBatches(client, "T", "gone").start()
    try:
        waiting = asyncio.create_task(batches.fetch(5, timeout=3))
        await asyncio.sleep(0.2)  # the lingering request is on the server
        await js.delete_consumer("T", "gone")
        with pytest.raises(ConsumerGone, match="(?i)deleted"):
            await asyncio.wait_for(waiting, 2)  # at once, not at the request's expiry
    finally:
        await batches.close()


async def test_publish_acks_resolve_with_the_stream_sequence_and_duplicates(client: NatsClient) -> None:
    acks = await PublishAcks(client).start()
    try:
        futures = [await acks.publish("t.p", f"p{n}".encode(), f"id-{n}") for n in range(50)]
        stored = await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert [ack["seq"] for ack in stored] == list(range(1, 51))
        assert all(ack["stream"] == "T" and not ack.get("duplicate") for ack in stored)
        again = await asyncio.wait_for(await acks.publish("t.p", b"p0", "id-0"), 5)
        assert again["duplicate"] is True and again["seq"] == 1
        assert acks.pending == 0
    finally:
        await acks.close()


async def test_publish_failures_are_errors_with_the_reason(client: NatsClient) -> None:
    js = client.jetstream()
    await js.add_stream(
        StreamConfig(name="FULL", subjects=["full.>"], max_msgs=1, discard=DiscardPolicy.NEW, storage=StorageType.FILE)
    )
    acks = await PublishAcks(client).start()
    try:
        with pytest.raises(PublishFailed, match="503 no stream takes this subject"):
            await asyncio.wait_for(await acks.publish("nowhere.x", b"x", "n1"), 5)
        await asyncio.wait_for(await acks.publish("full.x", b"1", "f1"), 5)
        with pytest.raises(PublishFailed, match="(?i)maximum messages"):
            await asyncio.wait_for(await acks.publish("full.x", b"2", "f2"), 5)
        pending = await acks.publish("t.p", b"late", "late-1")
        acks.forget()  # a pass given up: the future is cancelled, a late ack is ignored
        assert pending.cancelled() and acks.pending == 0
    finally:
        await acks.close()


async def test_a_consumer_counts_deliveries_as_the_server_numbers_them(client: NatsClient) -> None:
    from nats.aio.msg import Msg

    from incidents_common.nats.consumer import _deliveries

    js = client.jetstream()
    await js.publish("t.d", b"x")
    sub = await js.pull_subscribe("t.d", durable="deliveries", config=ConsumerConfig(ack_wait=30))
    seen = []
    for _ in range(3):
        (msg,) = await sub.fetch(1, timeout=5)
        seen.append((_deliveries(msg), msg.metadata.num_delivered))
        await msg.nak()
    assert seen == [(1, 1), (2, 2), (3, 3)]
    # The subject's newer form (domain and account hash before the stream), and no JetStream at all.
    domain_form = "$JS.ACK.hub.ACCHASH.T.deliveries.4.17.9.1733540000000000000.0.r4nd0m"
    server_count = Msg.Metadata._from_reply(domain_form).num_delivered
    assert _deliveries(Msg(client, subject="t.d", reply=domain_form)) == server_count == 4
    assert _deliveries(Msg(client, subject="t.d", reply="_INBOX.abc")) == 1
    assert _deliveries(Msg(client, subject="t.d")) == 1
