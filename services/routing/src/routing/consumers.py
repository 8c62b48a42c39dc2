"""Consumed events: one handler each. A batch of up to 200 messages shares one transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.events import CloudEvent, PostClassified
from incidents_common.nats import Handler
from routing.config import Settings
from routing.incidents.service import handle_classified


def post_classified_handler(settings: Settings) -> Handler:
    """incidents.v1.post.classified → a new incident (created, assigned) or a post attached to one."""

    async def handle_post_classified(session: AsyncSession, event: CloudEvent[Any]) -> None:
        if not isinstance(event.data, PostClassified):
            from incidents_common.events import BadEvent

            raise BadEvent(f"expected post.classified, got {event.type}")
        await handle_classified(session, post=event.data, settings=settings)

    return handle_post_classified
