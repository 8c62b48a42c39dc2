"""The per-service runtime: connection, streams, outbox relay and consumers, started from the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from incidents_common.db import Database
from incidents_common.nats.connection import ConnectionLog, connect, short_error
from incidents_common.nats.consumer import Consumer
from incidents_common.nats.outbox import RELAY_BATCH, OutboxRelay
from incidents_common.nats.spec import ConsumerSpec
from incidents_common.streams import ensure_streams

log = logging.getLogger("incidents.nats")


class EventRuntime:
    """Owns a service's NATS connection, its outbox relay and its consumers.

    `stop_timeout` bounds `stop()`: consumers finish the batch in hand (about 60 % of it), the relay
    flushes the outbox, the connection drains. `outbox_ack_timeout` is the relay's wait for the
    acknowledgements of one pass (a reconnection ends it at once).
    """

    def __init__(
        self,
        *,
        db: Database,
        nats_url: str,
        client_name: str,
        consumers: Sequence[ConsumerSpec] = (),
        outbox_batch: int = RELAY_BATCH,
        user: str | None = None,
        password: str | None = None,
        stop_timeout: float = 10.0,
        outbox_ack_timeout: float = 15.0,
        streams: Sequence[Any] | None = None,
    ) -> None:
        self.db = db
        self.nats_url = nats_url
        self.client_name = client_name
        self.user = user
        self._password = password
        self.stop_timeout = stop_timeout
        self.streams = streams
        self.relay = OutboxRelay(db, batch=outbox_batch, ack_timeout=outbox_ack_timeout)
        self.consumers = [Consumer(spec, db) for spec in consumers]
        self.connection_log = ConnectionLog(client_name)
        self.connection_log.on_reconnect.append(self.relay.reconnected)
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    async def start(self) -> None:
        # A runtime stopped before may start again (an app whose lifespan runs twice).
        self.connection_log.closing = False
        self.relay.restart()
        for consumer in self.consumers:
            consumer.restart()
        self._connecting = asyncio.create_task(self._connect_and_run(), name=f"{self.client_name}-events")

    async def _connect_and_run(self) -> None:
        self.nc = await connect(
            self.nats_url,
            self.client_name,
            attempts=10_000,
            user=self.user,
            password=self._password,
            connection_log=self.connection_log,
            drain_timeout=max(self.stop_timeout / 3, 1.0),
        )
        self.js = self.nc.jetstream()
        await self._ensure_streams(self.js)
        self.relay.js = self.js
        self.relay.nc = self.nc
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.client_name}-outbox")
        for consumer in self.consumers:
            consumer.nc = self.nc
            self._consumer_tasks.append(asyncio.create_task(consumer.run(self.js), name=consumer.spec.durable))
        self.ready.set()
        log.info("event runtime ready", extra={"consumers": [c.spec.durable for c in self.consumers]})

    async def _ensure_streams(self, js: JetStreamContext) -> None:
        """Retried until it succeeds: a JetStream API call that times out at start (a busy or
        restarting server) must not leave the service up but silently consuming nothing."""
        attempt = 0
        while True:
            try:
                if self.streams is None:
                    await ensure_streams(js)
                else:
                    await ensure_streams(js, self.streams)
                return
            except Exception as exc:  # noqa: BLE001 - every failure is retried the same way
                attempt += 1
                log.warning(
                    "stream set-up failed, retrying",
                    extra={"client": self.client_name, "attempt": attempt, "error": short_error(exc)},
                )
                await asyncio.sleep(min(0.5 * attempt, 5.0))

    async def stop(self) -> None:
        """Drain within `stop_timeout`: consumers finish the batch in hand and stop fetching, the
        outbox relay flushes, the connection drains (what is cut short is redelivered or published
        at the next start)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout

        def left(share: float = 1.0) -> float:
            return max((deadline - loop.time()) * share, 0.0)

        self.connection_log.closing = True
        if self._connecting is not None:
            await _finish([self._connecting], 0.0)  # still connecting: give up; else: already done
            self._connecting = None
        for consumer in self.consumers:
            consumer.stop()
        await _finish(self._consumer_tasks, left(0.6))
        self._consumer_tasks = []
        self.relay.stop()
        if self._relay_task is not None:
            await _finish([self._relay_task], left(0.5))
            self._relay_task = None
        nc = self.nc
        if nc is not None and not nc.is_closed:
            await self._flush_outbox(left(0.7))
            try:
                await asyncio.wait_for(nc.drain(), timeout=max(left(), 0.5))
            except Exception as exc:  # noqa: BLE001 - a drain cut short: close
                log.info("nats drain cut short, closing", extra={"client": self.client_name, "error": short_error(exc)})
            finally:
                if not nc.is_closed:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def _flush_outbox(self, budget: float) -> None:
        """Publish what the last requests queued, until the outbox is empty or the budget is spent."""
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        self.relay.ack_timeout = min(self.relay.ack_timeout, max(budget, 0.1))
        while loop.time() < until:
            try:
                published = await asyncio.wait_for(self.relay.publish_pending(), timeout=until - loop.time())
            except Exception as exc:  # noqa: BLE001 - whatever is left goes out at the next start
                log.info("outbox flush at shutdown cut short", extra={"error": short_error(exc)})
                return
            if published < self.relay.batch:
                return

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected


async def _finish(tasks: Sequence[asyncio.Task[None]], timeout: float) -> None:
    """Wait for `tasks` to end by themselves for up to `timeout`, then cancel the rest."""
    pending = {task for task in tasks if not task.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(timeout, 0.0))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2.0)
    for task in tasks:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            log.warning("task ended with an error", extra={"task": task.get_name(), "error": short_error(error)})
