"""The routing service's app: directory, rules, incidents, deadlines; consumer and deadline scanner."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from incidents_common.app import Consumes, create_service, stop_tasks
from incidents_common.db import Database
from incidents_common.events import (
    SUBJECT_POST_CLASSIFIED,
    SUBJECT_REACTION_CLASSIFIED_ALL,
    SUBJECT_REPLY_PUBLICATION_ALL,
)
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
    tasks: list[asyncio.Task[None]] = []

    async def startup() -> None:
        if settings.seed_demo:
            await seed_demo_directory(db)
        if settings.deadline_scanner_enabled:
            tasks.append(asyncio.create_task(run_scanner(db, settings), name="routing-deadline-scanner"))

    async def shutdown() -> None:
        await stop_tasks(tasks)

    return create_service(
        title="Routing",
        description=(
            "Turns classified complaints into incidents: clusters repeats, assigns each to the responsible "
            "official by explainable rules, runs SLA clocks in working time and escalates breaches."
        ),
        version="0.1.0",
        settings=settings,
        db=db,
        consumes=[
            Consumes(DURABLE, "POSTS", SUBJECT_POST_CLASSIFIED, post_classified_handler(settings)),
            # What came of publishing officials' replies (the collector publishes them).
            Consumes(REPLY_DURABLE, "INCIDENTS", SUBJECT_REPLY_PUBLICATION_ALL, publications_handler(settings), 100),
            # Citizens' reactions to published replies, labelled by the classifier.
            Consumes(REACTION_DURABLE, "INCIDENTS", SUBJECT_REACTION_CLASSIFIED_ALL, reactions_handler(settings), 100),
        ],
        routers=[incidents_router, directory_router, rules_router, deadlines_router],
        on_startup=[startup],
        on_shutdown=[shutdown],
        openapi_tags=[
            {"name": "incidents", "description": "Incidents, their lifecycle and actions"},
            {"name": "directory", "description": "Departments and officials per region"},
            {"name": "rules", "description": "Assignment rules"},
            {"name": "sla", "description": "SLA policies and deadlines"},
        ],
    )
