"""The classifier's FastAPI app and its NATS consumer."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import FastAPI

from classifier import __version__
from classifier.config import Settings
from classifier.consumers import (
    DURABLE_CLASSIFICATION_CORRECTED,
    DURABLE_POST_COLLECTED,
    DURABLE_REACTION_COLLECTED,
    ClassifyCollected,
    LabelReactions,
    StoreCorrections,
)
from classifier.model import Classifier, load_cached
from classifier.models import TABLES
from classifier.reactions.model import ReactionModel
from classifier.replies import ReplyModel
from classifier.router import router
from incidents_common.app import Consumes, create_service, stop_tasks
from incidents_common.db import Database
from incidents_common.events import (
    SUBJECT_CLASSIFICATION_CORRECTED_ALL,
    SUBJECT_POST_COLLECTED,
    SUBJECT_REACTION_COLLECTED_ALL,
)

log = logging.getLogger("classifier.main")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings.resolved_database_url(), TABLES)
    holder: dict[str, Classifier] = {}

    def current() -> Classifier:
        return holder["model"]

    model_path = settings.resolved_model_path()
    watching: list[asyncio.Task[None]] = []

    async def load_model() -> None:
        # Loading takes ~1 s of CPU; off the event loop, and before the consumer starts. The file's
        # time is read first: a file replaced while (or just after) it loads is then still seen as new.
        loaded_mtime = _mtime(model_path)
        holder["model"] = await asyncio.to_thread(load_cached, model_path)
        app.state.classifier = holder["model"]
        replies_path = model_path.with_name("replies.joblib")
        if replies_path.exists():  # the reply-quality model (python -m classifier train-replies)
            app.state.replies = await asyncio.to_thread(ReplyModel.load, replies_path)
        reactions_path = model_path.with_name("reactions.joblib")
        if reactions_path.exists():  # the reactions labeller (python -m classifier train-reactions)
            app.state.reactions = await asyncio.to_thread(ReactionModel.load, reactions_path)
        if settings.model_reload_seconds > 0:
            watching.append(asyncio.create_task(watch_model(loaded_mtime), name="classifier-model-watch"))

    async def watch_model(seen: int | None) -> None:
        """`train` activates a model by replacing the file: swap it in without a restart. A post is
        classified wholly by one model; a file that fails to load leaves the running model in place.
        `seen`: the file's time when the running model was read from it."""
        while True:
            await asyncio.sleep(settings.model_reload_seconds)
            current_mtime = _mtime(model_path)
            if current_mtime is None or current_mtime == seen:
                continue
            seen = current_mtime
            try:
                loaded = await asyncio.to_thread(load_cached, model_path)
            except Exception:
                log.exception("the model file changed but does not load; keeping version %s", holder["model"].version)
                continue
            if loaded.version != holder["model"].version:
                log.info("model %s activated (was %s)", loaded.version, holder["model"].version)
                holder["model"] = loaded
                app.state.classifier = loaded

    async def stop_watching() -> None:
        await stop_tasks(watching)

    app = create_service(
        title="Incidents classifier",
        description="Russian-language complaint detection, category, region, urgency and sentiment, with evidence.",
        version=__version__,
        settings=settings,
        db=db,
        consumes=[
            Consumes(
                DURABLE_POST_COLLECTED,
                "POSTS",
                SUBJECT_POST_COLLECTED,
                ClassifyCollected(classifier=current, max_chars=settings.max_text_chars),
            ),
            # Operators' corrections of incidents (routing's `correct` action): feedback for the next `train`.
            Consumes(
                DURABLE_CLASSIFICATION_CORRECTED,
                "INCIDENTS",
                SUBJECT_CLASSIFICATION_CORRECTED_ALL,
                StoreCorrections(classifier=current, max_chars=settings.max_text_chars),
            ),
            # Citizens' reactions to published replies (the collector watches the threads): label each.
            Consumes(
                DURABLE_REACTION_COLLECTED,
                "INCIDENTS",
                SUBJECT_REACTION_COLLECTED_ALL,
                LabelReactions(model=lambda: app.state.reactions, max_chars=settings.max_text_chars),
            ),
        ],
        routers=[router],
        on_startup=[load_model],
        on_shutdown=[stop_watching],
        openapi_tags=[
            {"name": "classify", "description": "Classify posts (the same code as the NATS consumer)"},
            {"name": "feedback", "description": "Operators' corrections, used by the next `train`"},
            {"name": "model", "description": "The active model"},
            {"name": "replies", "description": "Officials' replies scored before they go out: answer or отписка"},
            {"name": "reactions", "description": "Citizens' reactions to published replies: thanks, not fixed, …"},
        ],
    )
    app.state.classifier = None
    app.state.replies = None
    app.state.reactions = None
    return app


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
