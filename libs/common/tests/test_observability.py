"""Tracing, metrics and health probes every service gets from create_service_app."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from incidents_common.app import create_service_app
from incidents_common.db import Database, publish
from incidents_common.events import PostCollected, SourceType, new_event
from incidents_common.identity import Identity
from incidents_common.logging import JsonFormatter
from incidents_common.metrics import count_on_commit, metrics_of
from incidents_common.nats import EventRuntime
from incidents_common.settings import ServiceSettings
from incidents_common.testing import ServiceAuth, eventually
from incidents_common.tracing import (
    continue_trace,
    current_traceparent,
    redact_query,
    service_resource,
    span_exporters_from_env,
    tracer,
    use_tracer_provider,
)

SCRAPER_TOKEN = "scrape-me-0123456789"  # noqa: S105 - a test token
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _app(tmp_path: Path, *, events: bool = False, **settings: Any) -> FastAPI:
    config = ServiceSettings(service_name="collector", log_json=False, nats_enabled=events, **settings)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", [])
    runtime = None
    if events:
        # A NATS nobody listens on: the runtime keeps trying, the service is up but not ready.
        runtime = EventRuntime(db=db, nats_url="nats://127.0.0.1:9", client_name="probe")
    app = create_service_app(title="probe", description="", version="1.2.3", settings=config, db=db, events=runtime)

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, Any]:
        logging.getLogger("probe").info("looked up a thing")
        return {"name": name, "traceparent": current_traceparent()}

    @app.post("/things/{name}/count")
    async def counted(name: str, fail: bool = False) -> dict[str, str]:
        async with app.state.db.transaction() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            count_on_commit(session, "posts_collected", source_type=name)
            if fail:
                raise ValueError("rolled back")
        return {"name": name}

    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    app = _app(tmp_path, metrics_token=SecretStr(SCRAPER_TOKEN))
    spans = InMemorySpanExporter()
    app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client, spans


def _samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def _value(value: Any) -> Any:
    return value


def _operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {Identity.load('operator').mint('collector')}"}


class TestHealth:
    async def test_live_and_ready_answer_without_credentials(self, served: Any) -> None:
        _, client, _ = served
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        legacy = await client.get("/health")
        assert live.status_code == 200 and live.json() == {"status": "ok", "service": "collector"}
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "service": "collector",
            "checks": {"database": "ok", "nats": "disabled"},
        }
        assert legacy.json()["status"] == "ok"

    async def test_not_ready_names_the_dependency(self, tmp_path: Path) -> None:
        app = _app(tmp_path, events=True)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                ready = await client.get("/health/ready")
                live = await client.get("/health/live")
                db = app.state.db
                working, db.engine = db.engine, create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/x.db")
                gone = await client.get("/health/ready")  # the database went away
                await db.engine.dispose()
                db.engine = working
        assert live.status_code == 200
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        body = ready.json()
        assert body["type"].endswith("/not-ready") and body["detail"] == "nats: not connected"
        assert body["checks"] == {"database": "ok", "nats": "not connected"}
        assert gone.status_code == 503
        assert gone.json()["checks"]["database"] == "unavailable (OperationalError)"
        assert "missing" not in gone.text  # the public probe says which, not the error's details

    def test_the_probes_are_documented_and_metrics_is_not(self, tmp_path: Path) -> None:
        paths = _app(tmp_path).openapi()["paths"]
        assert {"/health", "/health/live", "/health/ready"} <= set(paths)
        assert "503" in paths["/health/ready"]["get"]["responses"]
        assert "/metrics" not in paths


class TestMetricsDoor:
    async def test_without_a_token_401(self, served: Any) -> None:
        _, client, _ = served
        response = await client.get("/metrics")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].lower().startswith("bearer")

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": f"Bearer {SCRAPER_TOKEN}x"},
            {"Authorization": f"Basic {SCRAPER_TOKEN}"},
        ],
    )
    async def test_a_wrong_token_is_401(self, served: Any, headers: dict[str, str]) -> None:
        _, client, _ = served
        assert (await client.get("/metrics", headers=headers)).status_code == 401

    async def test_tokens_of_others_are_refused(self, served: Any) -> None:
        _, client, _ = served
        stranger = {"Authorization": f"Bearer {Identity.load('classifier').mint('collector')}"}
        elsewhere = {"Authorization": f"Bearer {Identity.load('operator').mint('routing')}"}
        expired = {"Authorization": f"Bearer {Identity.load('operator').mint('collector', now=time.time() - 600)}"}
        assert (await client.get("/metrics", headers=stranger)).status_code == 403
        assert (await client.get("/metrics", headers=elsewhere)).status_code == 401
        assert (await client.get("/metrics", headers=expired)).status_code == 401

    async def test_the_operator_and_the_scraper_token_open_it(self, served: Any) -> None:
        _, client, _ = served
        as_operator = await client.get("/metrics", auth=ServiceAuth("collector"))
        as_scraper = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})
        for response in (as_operator, as_scraper):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples = _samples(as_scraper.text)
        assert samples[("incidents_service_info", (("service", "collector"), ("version", "1.2.3")))] == 1
        assert samples[("incidents_nats_connected", ())] == 0

    async def test_without_a_scraper_token_only_the_operator(self, tmp_path: Path) -> None:
        app = _app(tmp_path)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                empty = await client.get("/metrics", headers={"Authorization": "Bearer "})
                operator = await client.get("/metrics", headers=_operator())
        assert empty.status_code == 401
        assert operator.status_code == 200


class TestMetrics:
    async def test_http_latency_by_route_template_and_status(self, served: Any) -> None:
        _, client, _ = served
        for name in ("a", "b", "c"):
            assert (await client.get(f"/things/{name}")).status_code == 200
        assert (await client.get("/nowhere/at/all")).status_code == 404
        samples = _samples((await client.get("/metrics", auth=ServiceAuth("collector"))).text)
        count = "incidents_http_request_duration_seconds_count"
        assert samples[(count, (("method", "GET"), ("route", "/things/{name}"), ("status", "200")))] == 3
        assert samples[(count, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
        assert not any("/things/a" in str(labels) for _, labels in samples)

    async def test_domain_counts_apply_on_commit_only(self, served: Any) -> None:
        app, client, _ = served
        assert (await client.post("/things/vk/count")).status_code == 200
        assert (await client.post("/things/vk/count")).status_code == 200
        assert (await client.post("/things/vk/count", params={"fail": True})).status_code == 500
        assert (await client.post("/things/rss/count", params={"fail": True})).status_code == 500
        samples = _samples((await client.get("/metrics", auth=ServiceAuth("collector"))).text)
        assert samples[("incidents_posts_collected_total", (("source_type", "vk"),))] == 2
        assert ("incidents_posts_collected_total", (("source_type", "rss"),)) not in samples
        assert metrics_of(app.state.db) is app.state.metrics

    async def test_outbox_backlog_is_refreshed_not_counted_per_scrape(self, served: Any) -> None:
        app, client, _ = served
        metrics = app.state.metrics
        await eventually(lambda: _value(metrics.refreshed_at))  # the start-up refresh is done
        post = PostCollected(
            post_id="p1", source_type=SourceType.push, external_id="1", text="x", published_at=NOW, collected_at=NOW
        )
        async with app.state.db.transaction() as session:
            publish(session, post, source="/test")
            publish(session, post, source="/test")
        before = _samples((await client.get("/metrics", auth=ServiceAuth("collector"))).text)
        await metrics.refresh()
        after = _samples((await client.get("/metrics", auth=ServiceAuth("collector"))).text)
        assert before[("incidents_outbox_backlog", ())] == 0  # a scrape reads the last refresh
        assert after[("incidents_outbox_backlog", ())] == 2
        assert after[("incidents_metrics_refreshed_timestamp_seconds", ())] > 0

    async def test_two_apps_in_one_process_keep_their_own_registries(self, tmp_path: Path) -> None:
        first, second = _app(tmp_path / "1"), _app(tmp_path / "2")
        assert first.state.metrics.registry is not second.state.metrics.registry


class TestTracing:
    async def test_a_request_is_a_server_span_that_continues_the_callers_trace(self, served: Any) -> None:
        _, client, spans = served
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        response = await client.get("/things/x", headers={"traceparent": parent})
        server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
        assert len(server) == 1
        span = server[0]
        assert span.name == "GET /things/{name}"
        assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
        assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
        assert span.resource.attributes["service.name"] == "collector"
        assert span.resource.attributes["service.version"] == "1.2.3"
        # What the handler publishes carries the request's span.
        assert response.json()["traceparent"].split("-")[1:3] == [
            f"{span.context.trace_id:032x}",
            f"{span.context.span_id:016x}",
        ]

    async def test_probes_and_scrapes_make_no_spans(self, served: Any) -> None:
        _, client, spans = served
        await client.get("/health")
        await client.get("/health/ready")
        await client.get("/metrics", auth=ServiceAuth("collector"))
        assert spans.get_finished_spans() == ()

    async def test_credentials_in_the_query_never_reach_a_span(self, served: Any) -> None:
        _, client, spans = served
        await client.get("/things/x", params={"api_key": "gwk_secret", "access_token": "jwt.secret", "region": "64"})
        (span,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
        shown = json.dumps(dict(span.attributes or {}))
        assert "secret" not in shown
        assert "REDACTED" in shown and "region=64" in shown

    async def test_logs_carry_the_trace_id(self, served: Any, caplog: pytest.LogCaptureFixture) -> None:
        _, client, spans = served
        formatter = JsonFormatter("collector")
        with caplog.at_level(logging.INFO, logger="probe"):
            await client.get("/things/x")
        (record,) = [r for r in caplog.records if r.name == "probe"]
        (span,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
        # The formatter reads the current span; the record was made inside it, so replay it there.
        assert record.msg == "looked up a thing"
        with continue_trace("replay", f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"):
            assert json.loads(formatter.format(record))["trace_id"] == f"{span.context.trace_id:032x}"

    def test_consumer_spans_are_children_of_the_events_trace(self) -> None:
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider()
        spans = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        with use_tracer_provider(provider):
            with tracer("test").start_as_current_span("unrelated"):
                with continue_trace("consumer handles", parent):
                    event = new_event(
                        PostCollected(
                            post_id="p",
                            source_type="push",
                            external_id="1",
                            text="x",
                            published_at=NOW,
                            collected_at=NOW,
                        ),
                        source="/test",
                    )
            with continue_trace("no parent", None):
                pass
            with continue_trace("bad parent", "00-00000000000000000000000000000000-0000000000000000-01"):
                pass
        by_name: dict[str, ReadableSpan] = {s.name: s for s in spans.get_finished_spans()}
        handled = by_name["consumer handles"]
        assert handled.kind == SpanKind.CONSUMER
        assert f"{handled.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
        assert handled.parent is not None and handled.parent.span_id == int("b7ad6b7169203331", 16)
        assert event.traceparent is not None and event.traceparent.split("-")[2] == f"{handled.context.span_id:016x}"
        assert by_name["no parent"].parent is None  # a new trace, not a child of whatever was current
        assert by_name["bad parent"].parent is None


class TestTracingConfiguration:
    def test_no_exporter_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
        assert span_exporters_from_env() == []
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
        assert span_exporters_from_env() == []

    def test_console_and_otlp_from_the_standard_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,console")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        otlp, console = span_exporters_from_env()
        assert isinstance(otlp, OTLPSpanExporter)
        assert isinstance(console, ConsoleSpanExporter)
        assert "127.0.0.1:4318/v1/traces" in str(vars(otlp))
        otlp.shutdown()

    def test_an_unknown_exporter_fails_the_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger-thrift")
        with pytest.raises(RuntimeError, match="jaeger-thrift"):
            span_exporters_from_env()
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        with pytest.raises(RuntimeError, match="otlp_proto_grpc"):
            span_exporters_from_env()

    def test_service_name_from_the_service_unless_otel_service_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
        assert service_resource("routing").attributes["service.name"] == "routing"
        monkeypatch.setenv("OTEL_SERVICE_NAME", "routing-eu")
        assert service_resource("routing").attributes["service.name"] == "routing-eu"

    def test_redact_query(self) -> None:
        assert redact_query("/v1/x?api_key=k&region=64") == "/v1/x?api_key=REDACTED&region=64"
        assert redact_query("access_token=t") == "access_token=REDACTED"
        assert redact_query("http://h/p?region=64") == "http://h/p?region=64"


def test_json_log_lines_drop_uvicorns_coloured_copy_of_the_message() -> None:
    import json as stdlib_json
    import logging as stdlib_logging

    from incidents_common.logging import JsonFormatter

    record = stdlib_logging.LogRecord(
        "uvicorn.error", stdlib_logging.INFO, __file__, 1, "Started server process", (), None
    )
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    entry = stdlib_json.loads(JsonFormatter("routing").format(record))
    assert entry["msg"] == "Started server process" and entry["service"] == "routing"
    assert "color_message" not in entry
