"""JetStream in bulk, without a task per message: pulling batches, and publishing with acks.

Pulling.

nats-py's `PullSubscription.fetch` waits for each message of a batch through `next_msg`, which
creates a task and an `asyncio.wait_for` (another task) per message: about a third of the CPU a
consumer spent on NATS in `bench/pipeline.py`. Here the pull requests are the same JetStream API
(`$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`, replies to one inbox of the connection), and the
subscription's callback only appends each message to a list, from which a fetch takes its batch.

One request is outstanding at a time. It ends when the server has sent its `batch` messages, or
sent a status (404 no messages, 408 request expired, 409 conflict), or, should the server never
say (a reconnection forgets pull requests), at a client-side deadline. Messages that arrive after a
fetch returned wait in the list for the next one; `close` hands back what was never fetched.

Publishing. nats-py's `publish_async` costs about 18 µs a message (a semaphore, a random token
from `os.urandom`, a done-callback, a JSON parse into a dataclass for the ack). `PublishAcks` sends
the same JetStream publish (the message with `Nats-Msg-Id`, a reply subject under one inbox of the
connection) and resolves a future per message from the server's ack, read with orjson.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger("incidents.nats")

JS_API_PREFIX = "$JS.API"
STATUS_HEADER = "Status"
DESCRIPTION_HEADER = "Description"
HEARTBEAT = "100"
# Statuses that end a pull request and are normal for it.
REQUEST_ENDED = {"404", "408", "409"}
ACK_WILDCARD = "*"
# How long after a lingering request's own expiry the client stops waiting for the server to say so.
GRACE_SECONDS = 1.0


class ConsumerGone(Exception):
    """The durable consumer was deleted (or the stream): the caller creates it again."""


class PullBatches:
    """Batches from one durable pull consumer (`fetch`), over a callback subscription to an inbox."""

    def __init__(self, nc: NatsClient, stream: str, durable: str) -> None:
        self._nc = nc
        self._next_subject = f"{JS_API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._received: deque[Msg] = deque()
        self._changed = asyncio.Event()
        self._outstanding = 0  # messages the request in flight may still deliver; 0 = none in flight
        self._failure: Exception | None = None

    async def start(self) -> PullBatches:
        self._subscription = await self._nc.subscribe(self._inbox, cb=self._on_message)
        return self

    @property
    def buffered(self) -> int:
        """Messages received and not yet fetched."""
        return len(self._received)

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(STATUS_HEADER) if headers else None
        if status is None:
            self._received.append(msg)
            if self._outstanding > 0:
                self._outstanding -= 1
        elif status == HEARTBEAT:
            return
        else:
            self._outstanding = 0
            description = (headers or {}).get(DESCRIPTION_HEADER, "")
            if status not in REQUEST_ENDED:
                self._failure = nats.js.errors.APIError(code=int(status), description=description)
            elif "deleted" in description.lower():
                self._failure = ConsumerGone(f"{self._next_subject}: {description}")
        self._changed.set()

    async def _request(self, batch: int, *, expires: float | None) -> None:
        request: dict[str, object] = {"batch": batch}
        if expires is None:
            request["no_wait"] = True
        else:
            request["expires"] = int(expires * 1_000_000_000)
        self._outstanding = batch
        await self._nc.publish(self._next_subject, orjson.dumps(request), reply=self._inbox)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages: those the server has at once (one request with `no_wait`), or,
        when it has none, whatever arrives within `timeout` (returning early when the batch is
        full). Raises TimeoutError when none came. The same protocol as nats-py's fetch: a backlog
        comes in bulk, and a quiet stream is waited on by one lingering request."""
        self._raise_failure()
        if len(self._received) < batch and self._outstanding == 0:
            await self._request(batch - len(self._received), expires=None)
        await self._settle(batch, GRACE_SECONDS)
        if not self._received:
            self._raise_failure()
            await self._request(batch, expires=timeout)
            await self._settle(batch, timeout + GRACE_SECONDS)
        if not self._received:
            self._raise_failure()
            raise TimeoutError
        count = min(batch, len(self._received))
        return [self._received.popleft() for _ in range(count)]

    async def _settle(self, batch: int, wait: float) -> None:
        """Wait until the batch is full, or the request in flight ended, or `wait` seconds passed
        (then the server forgot the request, or is away: the next fetch asks again)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(self._received) < batch and self._outstanding > 0 and self._failure is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._outstanding = 0
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def close(self) -> None:
        """Unsubscribe; messages received but never fetched are nak'ed, so they come back at once."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
        while self._received:
            msg = self._received.popleft()
            with contextlib.suppress(Exception):
                await msg.nak()

    # The interface of nats-py's PullSubscription that the consumer loop uses.
    unsubscribe = close


class PublishFailed(Exception):
    """JetStream answered a publish with an error (or no stream took the subject: 503)."""


class PublishAcks:
    """JetStream publishes whose acks resolve futures: `publish` sends, the future says stored."""

    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self._prefix = nc.new_inbox()
        self._waiting: dict[str, asyncio.Future[dict[str, object]]] = {}
        self._sent = 0
        self._subscription: Subscription | None = None

    async def start(self) -> PublishAcks:
        self._subscription = await self.nc.subscribe(f"{self._prefix}.{ACK_WILDCARD}", cb=self._on_ack)
        return self

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> asyncio.Future[dict[str, object]]:
        """Send one message; the future resolves with the server's ack (stream, seq, duplicate)."""
        self._sent += 1
        token = str(self._sent)
        future: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        await self.nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers={"Nats-Msg-Id": msg_id})
        return future

    @property
    def pending(self) -> int:
        """Messages sent whose ack has not come."""
        return len(self._waiting)

    def forget(self) -> None:
        """Stop waiting for the acks not received (a timed-out or interrupted pass): their futures
        are cancelled and the rows are published again."""
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.cancel()

    async def _on_ack(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if future is None or future.done():
            return
        headers = msg.headers
        status = headers.get(STATUS_HEADER) if headers else None
        if status is not None:
            description = (headers or {}).get(DESCRIPTION_HEADER, "").split("\n")[0].strip()
            reason = "no stream takes this subject" if status == "503" else description
            future.set_exception(PublishFailed(f"{status} {reason}".strip()))
            return
        try:
            ack = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            future.set_exception(PublishFailed(f"unreadable ack: {msg.data[:100]!r}"))
            return
        error = ack.get("error") if isinstance(ack, dict) else None
        if error:
            description = error.get("description", error) if isinstance(error, dict) else error
            future.set_exception(PublishFailed(str(description)))
        elif not isinstance(ack, dict) or "seq" not in ack:
            future.set_exception(PublishFailed(f"not a publish ack: {msg.data[:100]!r}"))
        else:
            future.set_result(ack)

    async def close(self) -> None:
        self.forget()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None
