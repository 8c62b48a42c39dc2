"""The classifier's FastAPI app and its NATS consumer."""

from __future__ import annotations

import asyncio
import functools

from fastapi import FastAPI

from classifier import __version__
from classifier.config import Settings
from classifier.consumers import DURABLE_POST_COLLECTED, BatchClassifier, Prepared, handle_post_collected
from classifier.model import Classifier, load_cached
from classifier.models import TABLES
from classifier.router import router
from incidents_common.app import create_service_app
from incidents_common.db import Database
from incidents_common.events import SUBJECT_POST_COLLECTED
from incidents_common.nats import ConsumerSpec, EventRuntime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings.resolved_database_url(), TABLES)
    holder: dict[str, Classifier] = {}

    def current() -> Classifier:
        return holder["model"]

    events = None
    if settings.nats_enabled:
        prepared = Prepared()
        spec = ConsumerSpec(
            durable=settings.stream_prefix + DURABLE_POST_COLLECTED,
            stream="POSTS",
            filter_subject=SUBJECT_POST_COLLECTED,
            handler=functools.partial(
                handle_post_collected, classifier=current, max_chars=settings.max_text_chars, prepared=prepared
            ),
            batch=settings.consumer_batch,
            max_deliver=settings.max_deliver,
            before_batch=BatchClassifier(classifier=current, prepared=prepared, max_chars=settings.max_text_chars),
        )
        events = EventRuntime(
            db=db,
            nats_url=settings.nats_url,
            client_name=settings.service_name,
            outbox_batch=settings.outbox_batch,
            consumers=[spec],
        )

    async def load_model() -> None:
        # Loading takes ~1 s of CPU; off the event loop, and before the consumer starts.
        holder["model"] = await asyncio.to_thread(load_cached, settings.resolved_model_path())
        app.state.classifier = holder["model"]

    app = create_service_app(
        title="Incidents classifier",
        description="Russian-language complaint detection, category, region, urgency and sentiment, with evidence.",
        version=__version__,
        settings=settings,
        db=db,
        events=events,
        on_startup=[load_model],
        openapi_tags=[
            {"name": "classify", "description": "Classify posts (the same code as the NATS consumer)"},
            {"name": "feedback", "description": "Operators' corrections, used by the next `train`"},
            {"name": "model", "description": "The active model"},
        ],
    )
    app.state.classifier = None
    app.include_router(router)
    return app
