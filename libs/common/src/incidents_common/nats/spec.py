"""What a consumer is: the batch contract its handler follows, its spec (durable, filter, limits) and
its counters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import Writes
from incidents_common.events import CloudEvent

# The batch contract: a consumer's handler gets the batch's events that this consumer has not
# processed yet (in delivery order) and the typed context of the batch's transaction, and records
# its effects there (rows, events, counters). The machinery writes them in bulk with the inbox rows,
# in one transaction, then acks. A batch that fails is retried one event at a time (a one-element
# list), so a handler must be correct for one event as for many.
BatchHandler = Callable[[Writes, list[CloudEvent[Any]]], Awaitable[None]]


EventHandler = Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]


def each_event(handler: EventHandler) -> BatchHandler:
    """A BatchHandler that calls `handler(session, event)` for each event of the batch in turn: for
    consumers whose work per event is a statement or two (tests, examples, a region's subscriber)."""

    async def handle_each(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for cloud_event in events:
            await handler(writes.session, cloud_event)

    return handle_each


@dataclass
class ConsumerSpec:
    """A durable pull consumer. `durable` names it (no dots: NATS forbids them).

    `max_deliver` is how many times a message may fail on its own before it is dead-lettered (the
    server-side consumer itself has no limit: see the package docstring); `backoff` the delays before
    those retries. `handler_timeout` bounds one batch (and one message handled alone), default 30 s.
    `ack_wait` is how soon JetStream hands a batch held by a consumer that died to the next one: short
    (15 s), because a live consumer keeps its batch in progress however long the handling takes.
    While the database or NATS is down the consumer probes every `outage_backoff[0]` seconds,
    doubling up to `outage_backoff[1]`. A failure that looks like infrastructure while the
    probe answers is retried `transient_retries` times before it counts against the message.
    """

    durable: str
    stream: str
    filter_subject: str
    handler: BatchHandler
    batch: int = 200
    max_deliver: int = 5
    backoff: list[float] = field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])
    ack_wait: float = 15.0
    # How long a fetch waits for its batch to fill. A batch is returned only when it is full or
    # this time has passed, so it bounds what each stage adds to a post's latency when the stream
    # trickles (at 1 s, 300 posts/s took 0.5 s per stage); under load batches fill at once. Between
    # the two, it sets the batch size and so the fixed cost of a batch (a transaction, the loads that
    # decisions need): at 300 posts/s, 0.15 s instead of 0.05 s took a fifth off routing's, the
    # gateway's and the classifier's CPU (cores busy 1.4–1.7 of 2 instead of 1.9). An idle consumer
    # asks the server again each time: about 7 small requests a second.
    fetch_timeout: float = 0.15
    handler_timeout: float | None = None
    outage_backoff: tuple[float, float] = (0.5, 30.0)
    transient_retries: int = 3
    probe_timeout: float = 5.0

    @property
    def batch_timeout(self) -> float:
        return self.handler_timeout if self.handler_timeout is not None else 30.0

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.durable,
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.filter_subject,
            # Unlimited on the server: JetStream would drop a message silently at its limit. The
            # consumer counts itself and dead-letters (Consumer.process), so nothing is ever dropped.
            max_deliver=-1,
            ack_wait=self.ack_wait,
            # No server-side back-off: it would replace ack_wait by its first value (1 s), and the
            # retries of failed messages are timed by the consumer's naks.
            backoff=None,
            max_ack_pending=max(self.batch * 10, 1000),
        )


@dataclass
class ConsumerStats:
    """Counters of one consumer (read for metrics: keep the names)."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0  # naks of messages that failed on their own, retried later
    delivery_limit: int = 0  # dead-lettered on receipt: delivered too often without a verdict
    transient_retries: int = 0  # infrastructure-looking failures retried while the probe answered
    timeouts: int = 0  # batches or messages that ran longer than handler_timeout
    # Batches that failed whole and were retried one event at a time: right for a bad event among good
    # ones; anything else is a bug that makes the consumer many times slower while nothing is lost.
    split_batches: int = 0
    outages: int = 0  # pauses: the database or NATS was unavailable
    paused_seconds: float = 0.0  # total time paused
    paused: bool = False  # paused right now


def config_differs(current: ConsumerConfig, wanted: ConsumerConfig) -> bool:
    """Whether the server's consumer differs from the spec in a field `Consumer.subscribe` brings up to date."""

    def seconds(value: float | None) -> float:
        return round(float(value or 0), 3)

    return (
        current.max_deliver != wanted.max_deliver
        or seconds(current.ack_wait) != seconds(wanted.ack_wait)
        or bool(current.backoff) != bool(wanted.backoff)
        or current.max_ack_pending != wanted.max_ack_pending
        or current.filter_subject != wanted.filter_subject
    )
