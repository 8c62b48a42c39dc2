"""The connector interface, its errors and a per-token rate limiter."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from collector.config import Settings
from collector.ingest.schemas import PostCreate


@dataclass
class Page:
    """Posts and the cursor values that become true once they are stored (saved in one transaction)."""

    posts: list[PostCreate] = field(default_factory=list)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


class ConnectorError(Exception):
    """A poll failed; the scheduler retries with exponential back-off."""


class BackOff(ConnectorError):
    """The API asked us to slow down: retry after `delay` seconds (not counted as a failure streak)."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class SourceHalted(ConnectorError):
    """Retrying cannot help (revoked token, wrong webhook mode): stop polling until an operator acts."""


class MaybeDelivered(ConnectorError):
    """The request left and no answer came (a read timeout, a connection dropped mid-exchange): the
    API may have acted on it. A read is simply retried; a write without an idempotency key must not be."""


# Failures that happen before a single byte of the request reached the API.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(exc: httpx.HTTPError, message: str) -> ConnectorError:
    """The ConnectorError for an HTTP call that got no answer: MaybeDelivered unless it surely never left."""
    return ConnectorError(message) if isinstance(exc, _NOT_SENT) else MaybeDelivered(message)


class RateLimiter:
    """At most `rate` calls per second, spaced evenly; shared by every connector using one token."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            delay = self._next - now
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = max(now, self._next) + self.interval


class Connector(ABC):
    """One source: reads its cursors, yields pages. The caller stores each page (posts and cursors
    together) before asking for the next, so a crash mid-paging resumes at the last stored page."""

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        source_id: str,
        settings: dict[str, Any],
        cursors: dict[str, dict[str, Any]],
        http: httpx.AsyncClient,
        config: Settings,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.source_id = source_id
        self.settings = settings
        self.cursors = cursors
        self.http = http
        self.config = config
        self.limiter = limiter

    @abstractmethod
    def pages(self) -> AsyncIterator[Page]:
        """Pages of new posts since the cursors."""
