"""Consumed events: one batch handler each (incidents_common.nats.BatchHandler)."""

from __future__ import annotations

from typing import Any

from incidents_common.categories import classification_problem
from incidents_common.db import Writes
from incidents_common.events import BadEvent, CloudEvent, PostClassified
from incidents_common.nats import BatchHandler
from routing.config import Settings
from routing.incidents.loading import CandidateCache, DirectoryCache
from routing.incidents.writes import route_posts


def post_classified_handler(settings: Settings) -> BatchHandler:
    """incidents.v1.post.classified → new incidents (created, assigned) or posts attached to open ones.

    The whole batch is decided at once, so two similar posts of one batch cluster together. The open
    incidents' posts read for clustering, and the directories, are kept for the next batch
    (incidents.loading.CandidateCache, DirectoryCache)."""
    cache = CandidateCache()
    directory_cache = DirectoryCache()

    async def handle_posts_classified(writes: Writes, events: list[CloudEvent[Any]]) -> None:
        for event in events:
            if not isinstance(event.data, PostClassified):
                # The batch is then retried one event at a time, and this one dead-lettered.
                raise BadEvent(f"expected post.classified, got {event.type}")
            problem = classification_problem(event.data.classification)
            if problem is not None:
                raise BadEvent(f"post {event.data.post_id}: {problem}")
        posts = [e.data for e in events]
        await route_posts(writes, posts, settings=settings, causes=events, cache=cache, directory_cache=directory_cache)

    return handle_posts_classified
