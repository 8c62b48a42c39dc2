"""Event handlers: one per consumed event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from classifier.model import Classifier
from classifier.service import collected_input, record_classification
from incidents_common.events import BadEvent, CloudEvent, PostCollected

DURABLE_POST_COLLECTED = "classifier-post-collected"


async def handle_post_collected(
    session: AsyncSession, event: CloudEvent[Any], *, classifier: Callable[[], Classifier], max_chars: int = 20_000
) -> None:
    """post.collected → classify → store + PostClassified (one transaction, with the inbox row)."""
    post = event.data
    if not isinstance(post, PostCollected):
        raise BadEvent(f"expected a PostCollected payload, got {type(post).__name__}")
    model = classifier()
    post_input = collected_input(post, max_chars=max_chars)
    classification = model.classify(post_input)
    await record_classification(session, post=post, classification=classification, place_hint=post_input.place_hint)
