"""One post through the four services, in-process over a real nats-server: one trace from the
collector's HTTP request to the gateway's read model, and the pipeline counted on every /metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from api_gateway.testing import Gateway, gateway_settings, running
from classifier.config import Settings as ClassifierSettings
from classifier.main import create_app as classifier_app
from collector.main import create_app as collector_app
from collector.testing import make_settings as collector_settings
from incidents_common.testing import ServiceAuth, eventually
from routing.config import Settings as RoutingSettings
from routing.main import create_app as routing_app

COMPLAINT = {
    "source_type": "push",
    "external_id": "trace-1",
    "text": "В Саратове на улице Чернышевского огромная яма на дороге уже месяц, машины бьют колёса! "
    "Администрация, когда отремонтируете дорогу?",
    "author": {"id": "u1", "name": "Ирина"},
}


@dataclass
class Pipeline:
    collector: FastAPI
    classifier: FastAPI
    routing: FastAPI
    gateway: Gateway
    spans: InMemorySpanExporter

    @property
    def apps(self) -> dict[str, FastAPI]:
        return {
            "collector": self.collector,
            "classifier": self.classifier,
            "routing": self.routing,
            "api-gateway": self.gateway.app,
        }

    async def post_complaint(self) -> None:
        post = dict(COMPLAINT, published_at=datetime.now(UTC).isoformat())
        transport = httpx.ASGITransport(app=self.collector)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=ServiceAuth("collector")) as c:
            response = await c.post("/v1/posts", json=post)
        assert response.status_code in (200, 201, 202), response.text

    async def incidents_at_gateway(self) -> list[dict[str, Any]]:
        response = await self.gateway.client.get("/v1/incidents", headers=self.gateway.headers("federal"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def scrape(self, service: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        app = self.apps[service]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=ServiceAuth(service)) as c:
            response = await c.get("/metrics")
        assert response.status_code == 200, response.text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


@contextlib.asynccontextmanager
async def pipeline(tmp_path: Path, nats_url: str) -> AsyncIterator[Pipeline]:
    def sqlite(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path / name}.db"

    common: dict[str, Any] = {"nats_enabled": True, "nats_url": nats_url, "log_json": False}
    collector = collector_app(collector_settings(sqlite("collector"), scheduler_enabled=False, **common))
    classifier = classifier_app(ClassifierSettings(database_url=sqlite("classifier"), **common))
    routing = routing_app(
        RoutingSettings(database_url=sqlite("routing"), seed_demo=True, deadline_scanner_enabled=False, **common)
    )
    spans = InMemorySpanExporter()
    async with contextlib.AsyncExitStack() as stack:
        for app in (routing, classifier, collector):
            app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
            await stack.enter_async_context(app.router.lifespan_context(app))
        gateway = await stack.enter_async_context(running(gateway_settings(tmp_path, **common)))
        gateway.app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        for app in (routing, classifier, collector, gateway.app):
            await eventually(lambda app=app: _ready(app))
        yield Pipeline(collector, classifier, routing, gateway, spans)


async def _ready(app: FastAPI) -> bool:
    return bool(app.state.events.ready.is_set())


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


class TestOnePostOneTrace:
    async def test_the_journey_from_collector_to_gateway_is_one_trace(self, tmp_path: Path, nats_url: str) -> None:
        async with pipeline(tmp_path, nats_url) as system:
            await system.post_complaint()
            (incident,) = await eventually(system.incidents_at_gateway, until=lambda items: len(items) == 1)
            assert incident["region_code"] == "64"
            finished = system.spans.get_finished_spans()

        by_id = {span.context.span_id: span for span in finished}
        request = next(
            s for s in finished if _service(s) == "collector" and s.kind == SpanKind.SERVER and "/v1/posts" in s.name
        )
        assert request.name == "POST /v1/posts"
        trace_id = request.context.trace_id
        journey = [s for s in finished if s.context.trace_id == trace_id]
        assert {_service(s) for s in journey} == {"collector", "classifier", "routing", "api-gateway"}

        def handling(service: str, event_type: str) -> ReadableSpan:
            found = [s for s in journey if _service(s) == service and s.name.endswith(event_type)]
            assert len(found) == 1, [(_service(s), s.name) for s in journey]
            assert found[0].kind == SpanKind.CONSUMER
            return found[0]

        classified = handling("classifier", "ru.incidents.post.collected")
        routed = handling("routing", "ru.incidents.post.classified")
        read_model = handling("api-gateway", "ru.incidents.incident.created")
        # Each consumer's handling is a child of the span that wrote the event it handles.
        assert classified.parent is not None and classified.parent.span_id == request.context.span_id
        assert routed.parent is not None and routed.parent.span_id == classified.context.span_id
        assert read_model.parent is not None and read_model.parent.span_id == routed.context.span_id
        # And the chain goes back to the request: nothing in the journey starts a trace of its own.
        roots = [s for s in journey if s.parent is None or s.parent.span_id not in by_id]
        assert roots == [request]


class TestThePipelineIsCounted:
    async def test_every_service_counts_its_part_on_metrics(self, tmp_path: Path, nats_url: str) -> None:
        async with pipeline(tmp_path, nats_url) as system:
            await system.post_complaint()
            await eventually(system.incidents_at_gateway, until=lambda items: len(items) == 1)
            routing = await eventually(
                lambda: system.scrape("routing"),
                until=lambda s: s.get(("incidents_incident_assigned_total", (("region", "64"),))) == 1,
            )
            for app in system.apps.values():
                await app.state.metrics.refresh()
            scraped = {service: await system.scrape(service) for service in system.apps}

        collector, classifier, gateway = scraped["collector"], scraped["classifier"], scraped["api-gateway"]
        assert collector[("incidents_posts_collected_total", (("source_type", "push"),))] == 1
        posted = {
            labels: value
            for (name, labels), value in collector.items()
            if name == "incidents_http_request_duration_seconds_count" and ("route", "/v1/posts") in labels
        }
        assert list(posted.values()) == [1] and dict(next(iter(posted)))["status"].startswith("2")
        assert classifier[("incidents_posts_classified_total", (("category", "roads"), ("is_incident", "true")))] == 1
        assert routing[("incidents_incident_created_total", (("region", "64"),))] == 1
        assert routing[("incidents_consumer_processed_total", (("consumer", "routing-post-classified"),))] == 1
        assert gateway[("incidents_consumer_processed_total", (("consumer", "gateway-incident-events"),))] >= 2
        for service, samples in scraped.items():
            assert samples[("incidents_nats_connected", ())] == 1, service
            assert samples[("incidents_outbox_backlog", ())] == 0, service
            lag = {
                labels: value
                for (name, labels), value in samples.items()
                if name == "incidents_consumer_pending_messages"
            }
            assert all(value == 0 for value in lag.values()), (service, lag)
            assert service == "collector" or lag, f"{service} shows no consumer lag"
            assert not any(
                value for (name, _), value in samples.items() if name == "incidents_consumer_dead_lettered_total"
            ), service
