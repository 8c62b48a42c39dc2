"""Polls every enabled source on its own interval (with jitter), concurrently, with back-off.

A slow or failing source never holds up the others: each poll runs in its own task under a time
limit. Back-pressure: while more than `max_outbox_backlog` events wait for NATS, no source is
polled, so a slow broker slows the collector instead of filling its memory or disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
from datetime import datetime, timedelta

import httpx

from collector.config import Settings
from collector.connectors import CONNECTORS, BackOff, ConnectorError, RateLimiter, SourceHalted
from collector.ingest.ingestor import Ingestor
from collector.models import Source
from collector.posts.service import delete_expired_posts, retention_cutoff
from collector.sources.secrets import redact, reveal_settings, seal_plaintext_sources
from collector.sources.service import due_sources, load_cursors, next_due, record_run
from incidents_common.db import Database, utcnow
from incidents_common.secretbox import SecretBoxError
from incidents_common.tracing import tracer

log = logging.getLogger("collector.scheduler")


class Scheduler:
    def __init__(self, *, db: Database, ingestor: Ingestor, settings: Settings) -> None:
        self.db = db
        self.ingestor = ingestor
        self.settings = settings
        self.http: httpx.AsyncClient | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._slots = asyncio.Semaphore(settings.poll_concurrency)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.paused_for_backlog = False

    async def start(self, *, poll: bool = True) -> None:
        """Seal secrets an earlier release stored in plaintext, then start the retention job, and the
        polling loop unless `poll` is false."""
        await self.seal_plaintext()
        self.http = httpx.AsyncClient(timeout=self.settings.http_timeout)
        self._tasks = [asyncio.create_task(self._retention_loop(), name="collector-retention")]
        if poll:
            self._tasks.append(asyncio.create_task(self._loop(), name="collector-scheduler"))

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._running.clear()
        if self.http is not None:
            await self.http.aclose()

    async def seal_plaintext(self) -> int:
        """The start-up pass of seal_plaintext_sources (plaintext rows are readable until then)."""
        async with self.db.transaction() as session:
            sealed = await seal_plaintext_sources(session, box=self.settings.secret_box())
        if sealed:
            log.info("encrypted the secrets of sources stored in plaintext", extra={"sources": sealed})
        return sealed

    def wake(self) -> None:
        """Look at the sources again now (one was created, changed or asked to run)."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            delay = 5.0
            try:
                delay = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the scheduler must outlive database hiccups
                log.warning("scheduler pass failed", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, delay))

    async def tick(self) -> float:
        """Start a poll for every due source; returns seconds until the next one is due (at most 5)."""
        if await self.ingestor.backlog() > self.settings.max_outbox_backlog:
            if not self.paused_for_backlog:
                log.warning(
                    "polling paused: outbox backlog over limit", extra={"limit": self.settings.max_outbox_backlog}
                )
            self.paused_for_backlog = True
            return 1.0
        self.paused_for_backlog = False
        now = utcnow()
        async with self.db.sessions() as session:
            due = await due_sources(session, now=now, exclude=self._running)
            upcoming = await next_due(session)
        for source in due:
            task = asyncio.create_task(self._guarded(source), name=f"poll-{source.id}")
            self._running[source.id] = task
            task.add_done_callback(functools.partial(self._done, source.id))
        if upcoming is None:
            return 5.0
        return min(5.0, max(0.05, (upcoming - utcnow()).total_seconds()))

    def _done(self, source_id: str, _task: asyncio.Task[None] | None = None) -> None:
        self._running.pop(source_id, None)
        self._wake.set()

    async def _guarded(self, source: Source) -> None:
        async with self._slots:
            # One trace per poll: the posts it stores carry it on to the classifier and beyond.
            with tracer("collector").start_as_current_span(
                f"poll {source.type}", attributes={"incidents.source_id": source.id}
            ):
                await self.poll(source)

    def limiter_for(self, source: Source) -> RateLimiter | None:
        """The rate limiter of the source's VK token (None for other sources): polls and replies share it."""
        if source.type != "vk":
            return None
        # One limiter per token: several sources sharing a token share VK's 3 requests per second.
        token = source.settings.get("token", "")
        if isinstance(token, str) and token:
            token = self.settings.secret_box().reveal(token)
        key = hashlib.sha256(str(token).encode()).hexdigest()
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(self.settings.vk_requests_per_second)
        return self._limiters[key]

    def _jittered(self, seconds: float) -> timedelta:
        spread = self.settings.poll_jitter
        return timedelta(seconds=seconds * random.uniform(1 - spread, 1 + spread))

    async def poll(self, source: Source) -> int:
        """Poll one source to its end (or its time limit) and record the outcome. Returns posts stored."""
        started = utcnow()
        stored = 0
        skipped: list[str] = []
        error: str | None = None
        halt = failed = False
        next_run: datetime
        async with self.db.sessions() as session:
            cursors = await load_cursors(session, source_id=source.id)
        connector_class = CONNECTORS[source.type]
        assert self.http is not None
        try:
            source_settings = reveal_settings(self.settings.secret_box(), source.settings)
        except SecretBoxError as exc:
            # The key that encrypted this source's token is not configured: nothing to poll with.
            async with self.db.transaction() as session:
                await record_run(
                    session,
                    source_id=source.id,
                    started=started,
                    error=str(exc),
                    next_run=started + timedelta(seconds=self.settings.backoff_max),
                    halt=True,
                    failed=True,
                )
            log.error("source secrets cannot be decrypted", extra={"source_id": source.id})
            return 0
        connector = connector_class(
            source_id=source.id,
            settings=source_settings,
            cursors=cursors,
            http=self.http,
            config=self.settings,
            limiter=self.limiter_for(source),
        )
        try:
            async with asyncio.timeout(self.settings.poll_timeout):
                async for page in connector.pages():
                    skipped.extend(page.skipped)
                    if page.posts or page.cursors:
                        result = await self.ingestor.ingest(
                            page.posts, source_id=source.id, cursors=page.cursors, keep_items=False
                        )
                        stored += result.accepted + result.updated
            next_run = started + self._jittered(source.interval_seconds)
        except SourceHalted as exc:
            error, halt, failed = str(exc), True, True
            next_run = started + timedelta(seconds=self.settings.backoff_max)
        except BackOff as exc:
            error, failed = str(exc), True
            next_run = started + self._jittered(exc.delay)
        except (ConnectorError, TimeoutError, httpx.HTTPError) as exc:
            error, failed = str(exc) or type(exc).__name__, True
            if isinstance(exc, TimeoutError):
                error = f"poll did not finish within {self.settings.poll_timeout:g}s"
            failures = source.consecutive_failures + 1
            delay = min(self.settings.backoff_base * 2 ** (failures - 1), self.settings.backoff_max)
            next_run = started + self._jittered(delay)
        except Exception as exc:  # noqa: BLE001 - a connector bug must not kill the scheduler
            log.exception("poll crashed", extra={"source_id": source.id})
            error, failed = f"internal error: {exc!r}", True
            next_run = started + timedelta(seconds=self.settings.backoff_max)
        if error is None and skipped:
            error = "; ".join(skipped)[:2000]
        error = redact(error, source_settings)  # the error is shown in the source's status
        if failed:
            log.warning("poll failed", extra={"source_id": source.id, "error": error})
        async with self.db.transaction() as session:
            await record_run(
                session, source_id=source.id, started=started, error=error, next_run=next_run, halt=halt, failed=failed
            )
        return stored

    async def run_retention(self) -> int:
        async with self.db.transaction() as session:
            deleted = await delete_expired_posts(session, older_than=retention_cutoff(self.settings.retention_days))
        if deleted:
            log.info("retention deleted raw posts", extra={"deleted": deleted})
        return deleted

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.run_retention()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retry at the next interval
                log.warning("retention failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.settings.retention_interval)
