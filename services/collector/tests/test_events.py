"""HTTP batch in, CloudEvents out: PostCollected on a real nats-server, edits as new versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.main import create_app
from collector.testing import make_settings
from incidents_common.events import SUBJECT_POST_COLLECTED, decode_event
from incidents_common.testing import ServiceAuth, eventually, read_stream


def _post(n: int, text: str | None = None) -> dict[str, Any]:
    return {
        "source_type": "vk",
        "external_id": f"-100_{n}",
        "text": text or f"Не вывозят мусор во дворе дома {n}",
        "published_at": "2026-11-24T10:00:00Z",
        "place_hints": {"city": "Энгельс"},
        "repost_chain": [{"source_type": "vk", "external_id": "-5_1"}] if n == 0 else [],
    }


@pytest.fixture
async def nats_client_app(nats_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", nats_enabled=True, nats_url=nats_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", auth=ServiceAuth("collector")
        ) as client:
            yield client


class TestPublishing:
    async def test_batch_lands_on_jetstream_once_and_edits_as_new_versions(
        self, nats_client_app: httpx.AsyncClient, nats_url: str
    ) -> None:
        client = nats_client_app
        response = await client.post("/v1/posts", json={"posts": [_post(n) for n in range(300)]})
        assert response.json()["accepted"] == 300
        # A second delivery of the same batch and one edit.
        again = await client.post("/v1/posts", json={"posts": [*(_post(n) for n in range(300)), _post(7, "Вывезли!")]})
        assert (again.json()["duplicates"], again.json()["updated"]) == (300, 1)

        messages = await eventually(
            lambda: read_stream(nats_url, SUBJECT_POST_COLLECTED, timeout=0.5), until=lambda m: len(m) >= 301
        )
        assert len(messages) == 301
        events = [decode_event(m.data) for m in messages]
        assert len({e.id for e in events}) == 301
        assert all(m.headers["Nats-Msg-Id"] == e.id for m, e in zip(messages, events, strict=True))
        edit = events[-1]
        assert (edit.data.external_id, edit.data.version, edit.data.text) == ("-100_7", 2, "Вывезли!")
        first = next(e for e in events if e.data.external_id == "-100_0")
        assert first.data.repost_chain[0].external_id == "-5_1"
        assert first.data.place_hints.city == "Энгельс"
        assert first.data.language == "ru"
        assert first.source == "/services/collector"
        health = (await client.get("/health")).json()
        assert health["nats_connected"] is True
