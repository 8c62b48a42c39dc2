"""A scheduled poll is a trace its posts carry on, and what it stores is counted by source type."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from collector.testing import FakeServer, Reply
from incidents_common.db import OutboxMessage

RSS = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Новости Энгельса</title>
<item><title>Нет воды</title><link>https://engels.example/n/1</link><guid>https://engels.example/n/1</guid>
<pubDate>Mon, 24 Nov 2025 09:00:00 +0400</pubDate><description>Третий день нет воды на Тельмана</description></item>
<item><title>Яма</title><link>https://engels.example/n/2</link><guid>https://engels.example/n/2</guid>
<pubDate>Mon, 24 Nov 2025 10:00:00 +0400</pubDate><description>Огромная яма на Строителей</description></item>
</channel></rss>"""


async def test_a_poll_is_one_trace_and_its_posts_are_counted(
    app: FastAPI, client: httpx.AsyncClient, fake: FakeServer
) -> None:
    spans = InMemorySpanExporter()
    app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    fake.script = lambda request: Reply(body=RSS, headers={"Content-Type": "application/rss+xml"})
    created = await client.post("/v1/sources", json={"name": "rss", "type": "rss", "settings": {"url": fake.url}})
    assert created.status_code == 201, created.text
    scheduler = app.state.scheduler
    await scheduler.tick()
    await asyncio.gather(*scheduler._running.values())

    (poll,) = [s for s in spans.get_finished_spans() if s.name == "poll rss"]
    assert poll.attributes is not None and poll.attributes["incidents.source_id"] == created.json()["id"]
    async with app.state.db.sessions() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert len(rows) == 2
    for row in rows:
        _, trace_id, parent_id, _ = orjson.loads(row.payload)["traceparent"].split("-")
        assert (trace_id, parent_id) == (f"{poll.context.trace_id:032x}", f"{poll.context.span_id:016x}")

    scraped = await client.get("/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert samples[("incidents_posts_collected_total", (("source_type", "rss"),))] == 2
