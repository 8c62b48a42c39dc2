"""The routing service's app: directory, rules, incidents, deadlines; consumer and deadline scanner."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.deadletters import dead_letter_router
from incidents_common.events import (
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_REACTION_CLASSIFIED_ALL,
    SUBJECT_REPLY_PUBLICATION_ALL,
)
from incidents_common.identity import PROTECTED
from incidents_common.nats import ConsumerSpec, EventRuntime
from routing.config import Settings
from routing.consumers import post_classified_handler
from routing.deadlines.router import router as deadlines_router
from routing.directory.router import router as directory_router
from routing.incidents.reactions import reactions_handler
from routing.incidents.replies import publications_handler
from routing.incidents.router import router as incidents_router
from routing.incidents.scanner import run_scanner
from routing.models import TABLES
from routing.rules.router import router as rules_router
from routing.seed import seed_demo_directory

DURABLE = "routing-post-classified"
REPLY_DURABLE = "routing-reply-publication"
REACTION_DURABLE = "routing-reaction-classified"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings.resolved_database_url(), TABLES)
    events = None
    if settings.nats_enabled:
        events = EventRuntime(
            db=db,
            nats_url=settings.nats_url,
            client_name=settings.service_name,
            outbox_batch=settings.outbox_batch,
            user=settings.nats_user or None,
            password=settings.nats_password.get_secret_value() or None,
            streams=settings.stream_specs(),
            consumers=[
                ConsumerSpec(
                    durable=f"{settings.stream_prefix}{DURABLE}",
                    stream="POSTS",
                    filter_subject=SUBJECT_POST_CLASSIFIED,
                    handler=post_classified_handler(settings),
                    batch=settings.consumer_batch,
                    max_deliver=settings.max_deliver,
                ),
                # What came of publishing officials' replies (the collector publishes them).
                ConsumerSpec(
                    durable=f"{settings.stream_prefix}{REPLY_DURABLE}",
                    stream="INCIDENTS",
                    filter_subject=SUBJECT_REPLY_PUBLICATION_ALL,
                    handler=publications_handler(settings),
                    batch=100,
                    max_deliver=settings.max_deliver,
                ),
                # Citizens' reactions to published replies, labelled by the classifier.
                ConsumerSpec(
                    durable=f"{settings.stream_prefix}{REACTION_DURABLE}",
                    stream="INCIDENTS",
                    filter_subject=SUBJECT_REACTION_CLASSIFIED_ALL,
                    handler=reactions_handler(settings),
                    batch=100,
                    max_deliver=settings.max_deliver,
                ),
            ],
        )
    tasks: list[asyncio.Task[None]] = []

    async def startup() -> None:
        if settings.seed_demo:
            await seed_demo_directory(db)
        if settings.deadline_scanner_enabled:
            tasks.append(asyncio.create_task(run_scanner(db, settings), name="routing-deadline-scanner"))

    async def shutdown() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()

    app = create_service_app(
        allowed_callers=settings.allowed_callers,
        title="Routing",
        description=(
            "Turns classified complaints into incidents: clusters repeats, assigns each to the responsible "
            "official by explainable rules, runs SLA clocks in working time and escalates breaches."
        ),
        version="0.1.0",
        settings=settings,
        db=db,
        events=events,
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_tags=[
            {"name": "incidents", "description": "Incidents, their lifecycle and actions"},
            {"name": "directory", "description": "Departments and officials per region"},
            {"name": "rules", "description": "Assignment rules"},
            {"name": "sla", "description": "SLA policies and deadlines"},
        ],
    )
    for router in (incidents_router, directory_router, rules_router, deadlines_router):
        app.include_router(router, dependencies=PROTECTED)
    app.include_router(dead_letter_router(), dependencies=PROTECTED)
    return app
