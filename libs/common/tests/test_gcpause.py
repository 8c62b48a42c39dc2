"""The cycle collector held off while a consumer batch is handled (incidents_common.nats.gcpause):
counted across overlapping batches, a young collection when too much waits, a collector that was
already off left off; and a real consumer against a real nats-server holding it off inside the
handler only. (That an outage's pause does not hold it off: test_consumer_outages.)"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Database, Received
from incidents_common.events import (
    SUBJECT_POST_COLLECTED,
    CloudEvent,
    PostCollected,
    SourceType,
    encode_event,
    new_event,
)
from incidents_common.nats import ConsumerSpec, EventRuntime, each_event, gcpause
from incidents_common.nats.gcpause import collector_paused
from incidents_common.testing import eventually, started


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


def test_a_batch_holds_the_collector_off_and_gives_it_back(collector_on: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_batches_give_it_back_when_the_last_ends(collector_on: None) -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled(), "the second batch is still being handled"
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_failing_batch_gives_it_back(collector_on: None) -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("no department")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_batches_collect_when_too_much_waits(collector_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpause, "YOUNG_LIMIT", 1_000)
    collections: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        outer = collector_paused()
        outer.__enter__()
        with collector_paused():
            kept = [[n] for n in range(5_000)]  # young, tracked objects: more than the limit
        assert collections == [0], "the ending batch ran one young collection for the one still open"
        outer.__exit__(None, None, None)
        del kept
    finally:
        gc.callbacks.remove(count)


def test_under_sustained_overlap_the_older_generations_are_collected_too(
    collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcpause, "YOUNG_LIMIT", 100)
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], 2, 2)
    collections: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        outer = collector_paused()
        outer.__enter__()  # a batch that never ends while the others come and go
        kept = []
        for _ in range(13):
            with collector_paused():
                kept.append([[n] for n in range(500)])  # alive: each batch ends over the limit
        outer.__exit__(None, None, None)
        del kept
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*thresholds)
    # Thresholds of 2: a generation is collected once more than two collections of the one below ran.
    assert collections == [0, 0, 0, 1] * 3 + [2], collections


def running_consumer(
    nats_url: str, tmp_path: Path, handle: Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]
) -> contextlib.AbstractAsyncContextManager[EventRuntime]:
    """A real consumer of post.collected (SQLite inbox, a real nats-server)."""
    name = f"test-gc-{uuid.uuid4().hex[:6]}"
    spec = ConsumerSpec(name, "POSTS", SUBJECT_POST_COLLECTED, each_event(handle), fetch_timeout=0.2)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}", [])
    return started(EventRuntime(db=db, nats_url=nats_url, client_name=name, consumers=[spec]))


async def publish_posts(runtime: EventRuntime, prefix: str, count: int) -> None:
    assert runtime.js is not None
    now = datetime.now(UTC)
    for n in range(count):
        post = PostCollected(
            post_id=f"{prefix}{n}", source_type=SourceType.push, external_id=f"{prefix}{n}", text="Яма",
            published_at=now, collected_at=now,
        )  # fmt: skip
        event = new_event(post, source="/test")
        await runtime.js.publish(SUBJECT_POST_COLLECTED, encode_event(event), headers={"Nats-Msg-Id": event.id})


async def test_a_consumer_holds_it_off_inside_the_handler_only(
    nats_url: str, tmp_path: Path, collector_on: None
) -> None:
    collector_on_inside: list[bool] = []

    async def handle(_session: AsyncSession, event: CloudEvent[Any]) -> None:
        collector_on_inside.append(gc.isenabled())

    async with running_consumer(nats_url, tmp_path, handle) as runtime:
        await publish_posts(runtime, "gc", 3)
        consumer = runtime.consumers[0]
        await eventually(lambda: _processed(consumer.stats.processed), until=lambda n: n == 3)
        assert collector_on_inside == [False, False, False]
        assert gc.isenabled(), "given back once the batch was acked"


async def test_a_handled_batch_is_freed_without_the_cycle_collector(nats_url: str, tmp_path: Path) -> None:
    """The session of a batch's transaction and its Writes refer to each other: what the Writes still
    holds after the commit (the batch's messages and decoded documents) must not wait for the cycle
    collector, or every young collection walks all of it (about 4 % of the gateway's CPU)."""

    async def handle(_session: AsyncSession, event: CloudEvent[Any]) -> None:
        pass

    def messages_alive() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, Received) and b"gcfree" in o.raw)

    async with running_consumer(nats_url, tmp_path, handle) as runtime:
        was = gc.isenabled()
        gc.collect()
        gc.disable()  # what is freed from here on is freed by reference counting alone
        try:
            await publish_posts(runtime, "gcfree", 5)
            consumer = runtime.consumers[0]
            await eventually(lambda: _processed(consumer.stats.processed), until=lambda n: n == 5)
            await eventually(lambda: _processed(messages_alive()), until=lambda n: n == 0, timeout=5)
        finally:
            if was:
                gc.enable()


async def _processed(value: int) -> int:
    return value
