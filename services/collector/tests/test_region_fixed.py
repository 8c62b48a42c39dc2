"""A pushed post's `place_hints.region_fixed` (the gateway sets it for an Open311 jurisdiction) reaches
the classifier unchanged in PostCollected."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlmodel import select

from incidents_common.db import OutboxMessage
from incidents_common.events import PostCollected, decode_event


async def test_region_fixed_travels_in_post_collected(app: FastAPI, client: httpx.AsyncClient) -> None:
    post = {
        "source_type": "push",
        "external_id": "open311:o311_1",
        "text": "В Москве яма",
        "published_at": "2026-11-26T10:00:00Z",
        "place_hints": {"region_code": "64", "region_fixed": True},
    }
    assert (await client.post("/v1/posts", json=post)).status_code in (200, 201)
    async with app.state.db.transaction() as session:
        [message] = (await session.exec(select(OutboxMessage))).all()
    event = decode_event(message.payload)
    assert isinstance(event.data, PostCollected)
    assert (event.data.place_hints.region_code, event.data.place_hints.region_fixed) == ("64", True)
