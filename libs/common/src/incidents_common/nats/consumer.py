"""The inbox-backed pull consumer: fetch a batch, handle it in one transaction with the inbox, ack after
the commit; pause while a dependency is down, retry or dead-letter a message that fails on its own
(the package docstring, `incidents_common.nats`, says when)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from incidents_common.db import Database, InboxMessage, Received, Writes, already_processed, utcnow
from incidents_common.events import BadEvent, CloudEvent, dead_letter_subject, decode_received
from incidents_common.jetstream import PullBatches
from incidents_common.nats.connection import short_error
from incidents_common.nats.dead_letter import (
    DELIVERY_LIMIT_REASON,
    dead_letter_headers,
    identify_event,
    traceparent_in,
)
from incidents_common.nats.failures import HandlerTimeout, is_infrastructure_failure, probe_database
from incidents_common.nats.gcpause import collector_paused
from incidents_common.nats.spec import ConsumerSpec, ConsumerStats, config_differs
from incidents_common.tracing import batch_spans, trace_id_of

log = logging.getLogger("incidents.nats")


class Consumer:
    """Fetches in batches, applies the handler inside one transaction with the inbox, acks after commit.

    See the package docstring (`incidents_common.nats`) for what pauses the consumer and what dead-letters a message.
    """

    def __init__(self, spec: ConsumerSpec, db: Database, *, nc: NatsClient | None = None) -> None:
        self.spec = spec
        self.db = db
        self.nc = nc
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()

    # --- the loop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fetching; the batch in hand is finished (`run` returns after it)."""
        self._stopping.set()

    def restart(self) -> None:
        self._stopping.clear()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, js: JetStreamContext) -> None:
        spec = self.spec
        if self.nc is None:
            self.nc = getattr(js, "_nc", None)
        while not self.stopping:
            subscription: PullBatches | None = None
            try:
                subscription = await self.subscribe(js)
                while not self.stopping:
                    try:
                        messages = await subscription.fetch(spec.batch, timeout=spec.fetch_timeout)
                    except TimeoutError:
                        continue  # an empty stream: normal for a pull consumer
                    await self.process(js, messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - re-arm the pull consumer after broker trouble
                if self.stopping:
                    break
                if self.nc is not None and not self.nc.is_connected:
                    # The connection log said it; wait for the reconnection quietly.
                    log.debug("consumer waits for NATS", extra={"consumer": spec.durable, "error": short_error(exc)})
                    await self._wait_connected()
                else:
                    log.warning(
                        "consumer loop error, re-subscribing",
                        extra={"consumer": spec.durable, "error": short_error(exc)},
                    )
                    await self._sleep(1.0)
            finally:
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()

    async def subscribe(self, js: JetStreamContext) -> PullBatches:
        """Create the durable consumer, or bring an existing one to this spec's config, and bind to it."""
        spec = self.spec
        wanted = spec.config()
        try:
            current: ConsumerConfig | None = (await js.consumer_info(spec.stream, spec.durable)).config
        except nats.js.errors.NotFoundError:
            current = None
        if current is None or config_differs(current, wanted):
            try:
                await js.add_consumer(spec.stream, wanted)  # creates, or updates the editable fields
            except nats.js.errors.APIError as exc:
                if current is None:
                    raise
                log.error(
                    "consumer config cannot be updated; running with the existing one",
                    extra={"consumer": spec.durable, "error": short_error(exc)},
                )
        nc = self.nc if self.nc is not None else js._nc
        return await PullBatches(nc, spec.stream, spec.durable).start()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or less when the consumer is stopped; True when it was stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self.stopping

    async def _wait_connected(self) -> None:
        while not self.stopping and self.nc is not None and not self.nc.is_connected and not self.nc.is_closed:
            await self._sleep(0.2)

    # --- one batch -----------------------------------------------------------------------------

    async def process(self, js: JetStreamContext, messages: list[Msg]) -> None:
        """Handle one fetched batch: every message ends acked, nak'ed for a retry, or dead-lettered.

        While it runs, the messages not yet settled are kept in progress (no redelivery). When the
        consumer is stopped (or cancelled) in the middle, what is not settled is nak'ed, so that the
        next start gets it at once.
        """
        keeper = asyncio.create_task(self._keep_in_progress(messages), name=f"{self.spec.durable}-in-progress")
        try:
            await self._process(js, messages)
        finally:
            keeper.cancel()
            left = [msg for msg in messages if not msg.is_acked]
            for msg in left:
                with contextlib.suppress(Exception):
                    await msg.nak()
            if left:
                log.info("unfinished messages released", extra={"consumer": self.spec.durable, "count": len(left)})

    async def _keep_in_progress(self, messages: list[Msg]) -> None:
        interval = max(min(self.spec.ack_wait / 3, 20.0), 0.05)
        while True:
            await asyncio.sleep(interval)
            for msg in messages:
                if not msg.is_acked:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

    async def _process(self, js: JetStreamContext, messages: list[Msg]) -> None:
        # The cycle collector waits while the batch is decoded and applied (nats.gcpause), but not
        # through an outage's pause or the one-by-one retries: those may last.
        with contextlib.ExitStack() as collector:
            collector.enter_context(collector_paused())
            await self._process_batch(js, messages, collector)

    async def _process_batch(self, js: JetStreamContext, messages: list[Msg], collector: contextlib.ExitStack) -> None:
        decoded: list[tuple[Msg, CloudEvent[Any]]] = []
        received: dict[str, Received] = {}
        for msg in messages:
            delivered = _deliveries(msg)
            if delivered > self.spec.max_deliver:
                self.stats.delivery_limit += 1
                await self.dead_letter(js, msg, f"{DELIVERY_LIMIT_REASON}: delivered {delivered} times")
                continue
            try:
                cloud_event, document = decode_received(msg.data)
            except BadEvent as exc:
                await self.dead_letter(js, msg, str(exc))
                continue
            decoded.append((msg, cloud_event))
            received[cloud_event.id] = Received(msg.data, document)
        if not decoded:
            return
        while True:
            try:
                await self._timed(self._apply_batch(decoded, received))
            except Exception as exc:  # noqa: BLE001 - an outage pauses; anything else: one by one
                collector.close()
                down = await self._outage(exc)
                if down is not None:
                    if not await self._pause(down):
                        return
                    continue  # the same batch again: the outage did not count against it
                self.stats.split_batches += 1
                log.warning(
                    "batch failed, retrying one by one",
                    extra={"consumer": self.spec.durable, "error": short_error(exc)},
                )
                for msg, cloud_event in decoded:
                    if not await self._apply_one(js, msg, cloud_event, received):
                        return
                return
            for msg, _ in decoded:
                await msg.ack()
            return

    async def _timed(self, work: Awaitable[None]) -> None:
        timeout = asyncio.timeout(self.spec.batch_timeout)
        try:
            async with timeout:
                await work
        except TimeoutError:
            if not timeout.expired():
                raise  # a timeout inside the handler (a driver's, a request's): judged as such
            self.stats.timeouts += 1
            raise HandlerTimeout(f"the handler did not finish within {self.spec.batch_timeout:g} s") from None

    async def _apply_batch(self, decoded: list[tuple[Msg, CloudEvent[Any]]], received: dict[str, Received]) -> None:
        async with self.db.transaction() as session:
            seen = await already_processed(session, self.spec.durable, [e.id for _, e in decoded])
            fresh: list[CloudEvent[Any]] = []
            for _, cloud_event in decoded:
                if cloud_event.id not in seen:
                    seen.add(cloud_event.id)  # the same event twice in one batch is handled once
                    fresh.append(cloud_event)
            await self._handle(session.writes, fresh, received)
        self.stats.processed += len(fresh)
        self.stats.duplicates += len(decoded) - len(fresh)

    async def _apply_one(
        self, js: JetStreamContext, msg: Msg, cloud_event: CloudEvent[Any], received: dict[str, Received]
    ) -> bool:
        """Handle one message in its own transaction; False when the consumer was stopped meanwhile."""
        transient = 0
        while True:
            duplicate = False
            try:
                await self._timed(self._apply_alone(cloud_event, received))
            except BadEvent as exc:
                await self.dead_letter(js, msg, str(exc), event_id=cloud_event.id)
                return True
            except _Duplicate:
                duplicate = True
            except Exception as exc:  # noqa: BLE001 - paused, retried at once, or counted against the message
                down = await self._outage(exc)
                if down is not None:
                    if not await self._pause(down):
                        return False
                    continue
                if is_infrastructure_failure(exc) and transient < self.spec.transient_retries:
                    transient += 1
                    self.stats.transient_retries += 1
                    log.info(
                        "transient failure while the database answers, retrying",
                        extra={
                            "consumer": self.spec.durable,
                            "event_id": cloud_event.id,
                            "trace_id": trace_id_of(cloud_event.traceparent),
                            "error": short_error(exc),
                        },
                    )
                    if await self._sleep(min(0.2 * 2**transient, 5.0)):
                        return False
                    continue
                await self._failed(js, msg, cloud_event, exc)
                return True
            if duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.processed += 1
            await msg.ack()
            return True

    async def replay(self, data: bytes) -> bool:
        """Apply a dead letter's event here, in-process, exactly as a delivery would be (handler and
        inbox in one transaction): False when this consumer had processed it already.

        A service replays its own dead letters this way, so its NATS user never needs to publish the
        subjects it consumes (which would let it forge another service's events)."""
        cloud_event, document = decode_received(data)
        try:
            await self._apply_alone(cloud_event, {cloud_event.id: Received(data, document)})
        except _Duplicate:
            self.stats.duplicates += 1
            return False
        self.stats.processed += 1
        return True

    async def _apply_alone(self, cloud_event: CloudEvent[Any], received: dict[str, Received]) -> None:
        async with self.db.transaction() as session:
            if await already_processed(session, self.spec.durable, [cloud_event.id]):
                raise _Duplicate
            await self._handle(session.writes, [cloud_event], received)

    async def _failed(self, js: JetStreamContext, msg: Msg, cloud_event: CloudEvent[Any], exc: Exception) -> None:
        """The message failed on its own: nak it for a retry with back-off, or dead-letter it."""
        delivered = _deliveries(msg)
        if delivered >= self.spec.max_deliver:
            await self.dead_letter(js, msg, f"failed {delivered} times: {exc!r}", event_id=cloud_event.id)
            return
        self.stats.retried += 1
        delay = self.spec.backoff[min(delivered - 1, len(self.spec.backoff) - 1)] if self.spec.backoff else 0
        log.warning(
            "handler failed, will retry",
            extra={
                "consumer": self.spec.durable,
                "event_id": cloud_event.id,
                "trace_id": trace_id_of(cloud_event.traceparent),
                "delivery": delivered,
                "retry_in": delay,
                "error": short_error(exc),
            },
        )
        await msg.nak(delay=delay)

    async def _handle(self, writes: Writes, events: list[CloudEvent[Any]], received: dict[str, Received]) -> None:
        if not events:
            return
        writes.received = received
        durable = self.spec.durable
        with batch_spans([(e.id, f"{durable} {e.type}", e.traceparent) for e in events]) as traceparents:
            writes.traceparents = traceparents
            await self.spec.handler(writes, events)
        processed_at = utcnow()
        writes.insert(
            InboxMessage, [{"consumer": durable, "event_id": e.id, "processed_at": processed_at} for e in events]
        )

    # --- outages -------------------------------------------------------------------------------

    async def probe(self) -> str | None:
        """None when the dependencies answer; else what is down.

        NATS must be connected, and the database must answer `SELECT 1` within `probe_timeout`
        (SQLite: must grant the write lock, `BEGIN IMMEDIATE`, since a locked file still reads).
        """
        if self.nc is not None and not self.nc.is_connected:
            return "NATS is not connected"
        try:
            async with asyncio.timeout(self.spec.probe_timeout):
                await probe_database(self.db, self.spec.probe_timeout)
        except Exception as exc:  # noqa: BLE001 - whatever stops the probe means the database is down
            return f"database: {short_error(exc)}"
        return None

    async def _outage(self, exc: BaseException) -> str | None:
        """What is down, when `exc` looks like an outage (or a timeout) and the probe confirms it."""
        if not (is_infrastructure_failure(exc) or isinstance(exc, HandlerTimeout)):
            return None
        return await self.probe()

    async def _pause(self, cause: str) -> bool:
        """Hold the messages in hand (kept in progress) until the dependencies answer again.

        Probes with back-off from `outage_backoff[0]` up to the ceiling `outage_backoff[1]`, for as
        long as it takes. Returns False if the consumer was stopped meanwhile.
        """
        first, ceiling = self.spec.outage_backoff
        self.stats.outages += 1
        self.stats.paused = True
        started = time.monotonic()
        log.warning("dependency unavailable, consumer paused", extra={"consumer": self.spec.durable, "cause": cause})
        delay = first
        try:
            while True:
                if await self._sleep(delay):
                    return False
                down = await self.probe()
                if down is None:
                    break
                delay = min(delay * 2, ceiling)
        finally:
            paused = time.monotonic() - started
            self.stats.paused_seconds += paused
            self.stats.paused = False
        log.warning(
            "dependency answers again, consumer resumed",
            extra={"consumer": self.spec.durable, "paused_seconds": round(paused, 2)},
        )
        return True

    # --- dead letters --------------------------------------------------------------------------

    async def dead_letter(self, js: JetStreamContext, msg: Msg, reason: str, *, event_id: str | None = None) -> None:
        """Copy `msg` to `incidents.deadletter.<consumer>` with the reason in its headers, then ack it.

        If the copy cannot be published, the message is nak'ed: it comes back (the server-side
        consumer has no delivery limit) and is dead-lettered on receipt.
        """
        event_id, event_type = (event_id, None) if event_id else identify_event(msg.data)
        trace_id = trace_id_of(traceparent_in(msg.data))
        headers = dead_letter_headers(msg, reason, durable=self.spec.durable, event_id=event_id, event_type=event_type)
        try:
            await js.publish(dead_letter_subject(self.spec.durable), msg.data, headers=headers)
        except Exception as exc:  # noqa: BLE001 - never lose it: leave it for redelivery
            log.error("dead-letter publish failed", extra={"consumer": self.spec.durable, "error": short_error(exc)})
            with contextlib.suppress(Exception):
                await msg.nak(delay=5)
            return
        self.stats.dead_lettered += 1
        log.warning(
            "event dead-lettered",
            extra={
                "consumer": self.spec.durable,
                "reason": reason[:300],
                "event_id": event_id,
                "trace_id": trace_id,
                "subject": msg.subject,
            },
        )
        await msg.ack()


class _Duplicate(Exception):
    """The event is in the inbox already: nothing to do but ack."""


def _deliveries(msg: Msg) -> int:
    """How many times JetStream has delivered `msg`, read off its reply subject
    (`$JS.ACK.<stream>.<consumer>.<delivered>.…`, or with a domain and an account hash before the
    stream). `msg.metadata` also builds a timestamp and a dataclass per message: 3 % of the gateway's CPU."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        return 1  # not a JetStream message (tests): a first delivery
    try:
        return int(tokens[4] if len(tokens) == 9 else tokens[6]) or 1
    except ValueError:
        return 1
