"""Connecting to NATS, and what the connection logs (one line per lost connection and return)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient

log = logging.getLogger("incidents.nats")


def inbox_prefix_of(user: str) -> str:
    """The inbox prefix of a NATS user: replies to its requests (JetStream API, pulls, publish acks)
    travel on `_INBOX_<user>.>`, the only inbox its permissions let it subscribe to."""
    return f"_INBOX_{user}"


# What a client sees while a server restarts or the network drops: expected, logged without traceback.
_CONNECTION_NOISE: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError …
    nats.errors.StaleConnectionError,  # UnexpectedEOF too
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.TimeoutError,
)


class ConnectionLog:
    """nats-py's connection callbacks: a lost connection and its return are one WARNING line each,
    without traceback; the failed attempts in between are DEBUG (nats-py's default logs every one of
    them at ERROR with a traceback). Other asynchronous errors (a permissions violation, a slow
    consumer) are one ERROR line. `on_reconnect` hooks run after every reconnection."""

    REMIND_EVERY = 60.0  # seconds between "still unreachable" lines while NATS stays away

    def __init__(self, name: str) -> None:
        self.name = name
        self.closing = False
        self.client: NatsClient | None = None
        self.disconnected_at: float | None = None
        self.disconnects = 0
        self.on_reconnect: list[Callable[[], None]] = []
        self._unreachable_since: float | None = None
        self._reminded_at = 0.0
        self.last_error: Exception | None = None

    async def error(self, exc: Exception) -> None:
        if self.last_error is None or isinstance(self.last_error, _CONNECTION_NOISE):
            self.last_error = exc  # an authorization error outlives the reset that follows it
        if not isinstance(exc, _CONNECTION_NOISE):
            log.error("nats error", extra={"client": self.name, "error": short_error(exc)})
            return
        now = time.monotonic()
        if self.client is None and self._unreachable_since is None:
            # The first connection fails: nats-py keeps trying; say it once, then remind now and then.
            self._unreachable_since = self._reminded_at = now
            log.warning("nats unreachable, retrying", extra={"client": self.name, "error": short_error(exc)})
            return
        since = self._unreachable_since if self.client is None else self.disconnected_at
        if since is not None and now - self._reminded_at >= self.REMIND_EVERY:
            self._reminded_at = now
            log.warning(
                "nats still unreachable",
                extra={"client": self.name, "down_seconds": round(now - since), "error": short_error(exc)},
            )
            return
        log.debug("nats connection error", extra={"client": self.name, "error": short_error(exc)})

    async def disconnected(self) -> None:
        if self.closing or self.disconnected_at is not None or (self.client is not None and self.client.is_closed):
            return
        self.disconnected_at = self._reminded_at = time.monotonic()
        self.disconnects += 1
        log.warning("nats connection lost, reconnecting", extra={"client": self.name})

    async def reconnected(self) -> None:
        down = time.monotonic() - self.disconnected_at if self.disconnected_at is not None else 0.0
        self.disconnected_at = None
        log.warning("nats reconnected", extra={"client": self.name, "down_seconds": round(down, 2)})
        for hook in self.on_reconnect:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - a hook must not break the client's callback
                log.error("reconnect hook failed", extra={"client": self.name, "error": short_error(exc)})

    async def closed(self) -> None:
        log.debug("nats connection closed", extra={"client": self.name})


def short_error(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def connect(
    url: str,
    name: str,
    *,
    attempts: int = 60,
    user: str | None = None,
    password: str | None = None,
    connection_log: ConnectionLog | None = None,
    drain_timeout: float = 10.0,
    reconnect_attempts: int = -1,
) -> NatsClient:
    """Connect, retrying the first connection (nats-py only reconnects after a first success).

    With a `user`, log in with it and `password` and use the user's own inbox prefix
    (`_INBOX_<user>`); without one, connect anonymously (an open server, as in most tests).
    Disconnections, reconnections and errors are logged by `connection_log` (one line each).
    `reconnect_attempts` -1 (services): nats-py retries an unreachable server for ever, the first
    connection included; a positive number makes each of the `attempts` give up after that many tries
    (a command line that should fail fast).
    """
    credentials: dict[str, Any] = {}
    if user:
        credentials = {"user": user, "password": password or "", "inbox_prefix": inbox_prefix_of(user)}
    # A cluster is given as a comma-separated list; nats-py wants a list of servers.
    servers = [part.strip() for part in url.split(",") if part.strip()]
    callbacks = connection_log or ConnectionLog(name)
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            client = await nats.connect(
                servers,
                name=name,
                max_reconnect_attempts=reconnect_attempts,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=callbacks.error,
                disconnected_cb=callbacks.disconnected,
                reconnected_cb=callbacks.reconnected,
                closed_cb=callbacks.closed,
                drain_timeout=drain_timeout,  # a float works: it goes to wait_for
                **credentials,
            )
        except Exception as exc:  # noqa: BLE001 - every connect failure is retried the same way
            last_error = exc
            if attempt + 1 < attempts:
                log.warning("nats connect failed, retrying", extra={"attempt": attempt + 1, "error": short_error(exc)})
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
        else:
            callbacks.client = client
            return client
    cause = callbacks.last_error or last_error
    raise ConnectionError(f"cannot reach NATS at {url}: {short_error(cause) if cause else 'no answer'}")
