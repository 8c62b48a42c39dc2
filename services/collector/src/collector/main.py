"""The collector's FastAPI app: push/import API, sources, Telegram webhook, scheduler, reply publisher
(and its consumer of reply.requested), the watch of the reactions to published replies, outbox relay."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from collector import __version__
from collector.config import Settings
from collector.consumers import REPLY_REQUESTED_DURABLE, reply_requested_handler
from collector.ingest import router as ingest
from collector.ingest.ingestor import Ingestor
from collector.models import TABLES
from collector.posts import router as posts
from collector.publishing.publisher import Publisher
from collector.reactions.service import telegram_hook
from collector.reactions.watcher import Watcher
from collector.scheduler import Scheduler
from collector.sources import router as sources
from incidents_common.app import Consumes, create_service
from incidents_common.db import Database
from incidents_common.events import SUBJECT_REPLY_REQUESTED_ALL

DESCRIPTION = """Collects citizens' posts from VK, Telegram, RSS/Atom feeds, HTTP pushes and JSONL imports,
normalises and de-duplicates them, and publishes `incidents.v1.post.collected` through an outbox."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Placeholder secrets from infra/example.env never reach a real deployment.
    settings.check_secrets()
    db = Database(settings.resolved_database_url(), TABLES)
    # Telegram messages answering a published reply are its reactions: found as they are ingested.
    ingestor = Ingestor(
        db, max_backlog=settings.max_outbox_backlog if settings.nats_enabled else None, on_store=telegram_hook(settings)
    )
    scheduler = Scheduler(db=db, ingestor=ingestor, settings=settings)
    # Replies, and the reads of the comments under them, share the polls' rate limit per VK token.
    publisher = Publisher(db=db, settings=settings, limiter_for=scheduler.limiter_for)
    watcher = Watcher(db=db, settings=settings, limiter_for=scheduler.limiter_for)

    async def start_scheduler() -> None:
        await scheduler.start(poll=settings.scheduler_enabled)

    app = create_service(
        title="Collector",
        description=DESCRIPTION,
        version=__version__,
        settings=settings,
        db=db,
        consumes=[
            # Officials' replies to publish where the complaints were: stored, then the publisher wakes.
            Consumes(
                REPLY_REQUESTED_DURABLE,
                "INCIDENTS",
                SUBJECT_REPLY_REQUESTED_ALL,
                reply_requested_handler(publisher.wake),
            )
        ],
        # In this order, so that the OpenAPI document lists the paths as it always has.
        routers=[ingest.router, posts.router, sources.router],
        public_routers=[ingest.public_router],  # the Telegram webhook: its own secret token
        on_startup=[start_scheduler, publisher.start, watcher.start],
        on_shutdown=[watcher.stop, scheduler.stop, publisher.stop],
        openapi_tags=[
            {"name": "posts", "description": "Push, import and read collected posts"},
            {"name": "sources", "description": "VK, Telegram and RSS sources: settings, status, enable/disable"},
            {"name": "telegram", "description": "Telegram webhook endpoint"},
        ],
    )
    # httpx logs every request URL at INFO, and Telegram's Bot API puts the bot token in the path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app.state.ingestor = ingestor
    app.state.scheduler = scheduler
    app.state.publisher = publisher
    app.state.watcher = watcher

    app.add_middleware(WakeSchedulerAfterResponse, wake=scheduler.wake)
    return app


class WakeSchedulerAfterResponse:
    """Wakes the scheduler after a response whose handler set `request.state.wake_scheduler`: after
    the source change committed, so the scheduler sees it at once. Plain ASGI (Starlette's
    BaseHTTPMiddleware, which `@app.middleware` makes, runs every request in a task group of its own)."""

    def __init__(self, app: ASGIApp, wake: Callable[[], None]) -> None:
        self.app = app
        self.wake = wake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("state", {}).get("wake_scheduler"):
            self.wake()
