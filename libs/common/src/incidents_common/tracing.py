"""OpenTelemetry: a tracer provider per service, exporters chosen by the standard OTEL_* variables,
HTTP server and client spans, and W3C trace context carried in CloudEvents' `traceparent`.

What an operator sets (read when a service app is created; nothing here is a service setting):

- `OTEL_TRACES_EXPORTER`: comma-separated exporters; `none` (the default: spans are made, for the ids
  that logs and events carry, but sent nowhere), `console` (JSON to stdout), `otlp` (OTLP over
  HTTP/protobuf, or over gRPC with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` once
  opentelemetry-exporter-otlp-proto-grpc is installed), or any exporter an installed package
  registers under the `opentelemetry_traces_exporter` entry points (the SDK's own mechanism).
- `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `_HEADERS`, `_TIMEOUT`,
  `_COMPRESSION`, `_CERTIFICATE`: read by the OTLP exporter itself.
- `OTEL_SERVICE_NAME` (default: the service's `service_name`), `OTEL_RESOURCE_ATTRIBUTES`.
- `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`) and the
  `OTEL_BSP_*` batch settings: read by the SDK.

One process normally runs one service, but tests run several apps in one process: each app gets
its own TracerProvider (so its spans carry its own `service.name`), the first one also becomes the
global provider. Work started by an app — its lifespan tasks (consumers, relay, scanners) and its
requests — sees that app's provider through a context variable (`use_tracer_provider`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("incidents.tracing")

EXPORTER_GROUP = "opentelemetry_traces_exporter"
OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc", "http/json": "otlp_json_http"}
# Health probes and scrapes every few seconds would bury the requests worth reading.
DEFAULT_EXCLUDED_URLS = r"/health(/live|/ready)?$,/metrics$"
# Query parameters that carry credentials (the gateway's Open311 `api_key`, EventSource's
# `access_token`): their values never reach a span.
SENSITIVE_QUERY_PARAMETERS = frozenset(
    {"api_key", "access_token", "token", "key", "secret", "client_secret", "password", "sig", "signature"}
)
REDACTED = "REDACTED"

_provider: ContextVar[TracerProvider | None] = ContextVar("incidents_tracer_provider", default=None)
_global_set = False
_propagator = TraceContextTextMapPropagator()


# ---------------------------------------------------------------------------------------------
# Providers and exporters
# ---------------------------------------------------------------------------------------------


def span_exporters_from_env() -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (none by default); RuntimeError for an unknown name."""
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "none":
            continue
        entry_name = name
        if name == "otlp":
            protocol = (
                os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            ).strip()
            entry_name = OTLP_BY_PROTOCOL.get(protocol, protocol)
        found = list(entry_points(group=EXPORTER_GROUP, name=entry_name))
        if not found:
            available = sorted({e.name for e in entry_points(group=EXPORTER_GROUP)} | {"none", "otlp"})
            raise RuntimeError(
                f"OTEL_TRACES_EXPORTER names {name!r} ({entry_name}), which no installed package provides; "
                f"available: {', '.join(available)}"
            )
        exporters.append(found[0].load()())
    return exporters


def service_resource(service_name: str, version: str = "") -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; otherwise service.name is the service's."""
    attributes: dict[str, Any] = {"service.namespace": "incidents"}
    if version:
        attributes[SERVICE_VERSION] = version
    resource = Resource.create(attributes)
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    return resource


def configure_tracing(service_name: str, *, version: str = "") -> TracerProvider:
    """A tracer provider for one service app, with the exporters the environment asks for.

    The sampler comes from OTEL_TRACES_SAMPLER (the SDK reads it). The first provider made in a
    process is also installed as the global one, for libraries that use the global API.
    """
    global _global_set
    exporters = span_exporters_from_env()
    provider = TracerProvider(resource=service_resource(service_name, version), shutdown_on_exit=bool(exporters))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if not _global_set:
        trace.set_tracer_provider(provider)
        _global_set = True
    if exporters:
        log.info(
            "exporting traces",
            extra={"exporters": [type(e).__name__ for e in exporters], "service": service_name},
        )
    return provider


def setup_tracing(service_name: str) -> TracerProvider:
    """The process-wide provider, made on first use (for scripts and tests that have no app)."""
    current = trace.get_tracer_provider()
    if _global_set and isinstance(current, TracerProvider):
        return current
    return configure_tracing(service_name)


@contextmanager
def use_tracer_provider(provider: TracerProvider | None) -> Iterator[None]:
    """Spans started in this block, and in tasks created in it, go to `provider`."""
    token = _provider.set(provider)
    try:
        yield
    finally:
        _provider.reset(token)


def current_tracer_provider() -> trace.TracerProvider:
    return _provider.get() or trace.get_tracer_provider()


def tracer(name: str) -> trace.Tracer:
    """A tracer of the app whose work this is (see use_tracer_provider), else of the global provider."""
    return current_tracer_provider().get_tracer(name)


# ---------------------------------------------------------------------------------------------
# W3C trace context
# ---------------------------------------------------------------------------------------------


def current_traceparent() -> str | None:
    return traceparent_of(trace.get_current_span())


def traceparent_of(span: trace.Span) -> str | None:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a W3C traceparent names: what a log line about one event carries, so that the
    event's journey is found from the log even where no span is current (a batch handled together)."""
    context = parse_traceparent(traceparent)
    return f"{context.trace_id:032x}" if context is not None else None


def parse_traceparent(value: str | None) -> SpanContext | None:
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        context = SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3], 16)),
        )
    except ValueError:
        return None
    return context if context.is_valid else None


def context_of(traceparent: str | None) -> Context:
    """The context a W3C traceparent describes; an empty one (a new trace) when it is absent or invalid."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        return Context()
    return trace.set_span_in_context(NonRecordingSpan(parent), Context())


@contextmanager
def continue_trace(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: dict[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span that continues the trace an event carried (or starts a new one).

    The event's own trace context is the parent, never whatever span happens to be current: a
    consumer's handling belongs to the request or handling that wrote the event.
    """
    with tracer("incidents").start_as_current_span(
        name, context=context_of(traceparent), kind=kind, attributes=attributes
    ) as span:
        yield span


def _anyone_listens() -> bool:
    """Whether the current provider has a span processor (an exporter, or a test's collector)."""
    provider = current_tracer_provider()
    active = getattr(provider, "_active_span_processor", None)
    if active is None:
        return not isinstance(provider, trace.NoOpTracerProvider)
    return bool(getattr(active, "_span_processors", True))


@contextmanager
def batch_spans(events: Sequence[tuple[str, str, str | None]]) -> Iterator[dict[str, str | None]]:
    """One CONSUMER span per event of a batch handled together: (event id, span name, the event's
    traceparent) each. Every span continues its own event's trace; yields event id → the traceparent
    of its span, which the events it causes carry (so each journey stays one trace)."""
    if not _anyone_listens():
        # Nothing would see these spans (no exporter, no processor): at thousands of events a
        # second their making was 6-8 % of a consumer's CPU. The caused events continue the trace
        # of the events that caused them, so logs and a later exporter still see one journey.
        yield {event_id: parent for event_id, _name, parent in events}
        return
    spans = {
        event_id: tracer("incidents").start_span(name, context=context_of(parent), kind=SpanKind.CONSUMER)
        for event_id, name, parent in events
    }
    try:
        yield {event_id: traceparent_of(span) for event_id, span in spans.items()}
    finally:
        for span in spans.values():
            span.end()


# ---------------------------------------------------------------------------------------------
# HTTP: server spans (FastAPI) and client spans (httpx, internal calls only)
# ---------------------------------------------------------------------------------------------


def redact_query(url: str) -> str:
    """`url` (or a bare query string) with the values of credential parameters replaced."""
    if "=" not in url:
        return url
    bare = "?" not in url and "/" not in url
    parts = urlsplit("?" + url if bare else url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SENSITIVE_QUERY_PARAMETERS for k, _ in pairs):
        return url
    query = urlencode([(k, REDACTED if k.lower() in SENSITIVE_QUERY_PARAMETERS else v) for k, v in pairs])
    return query if bare else urlunsplit(parts._replace(query=query))


_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def _redact_server_span(span: trace.Span, _scope: dict[str, Any]) -> None:
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or not attributes:
        return
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "=" in value:
            redacted = redact_query(value)
            if redacted != value:
                span.set_attribute(key, redacted)


def instrument_fastapi(app: Any, provider: TracerProvider) -> None:
    """Server spans for every request (route templates as names, W3C traceparent continued),
    query credentials redacted; health probes and scrapes are left out unless
    OTEL_PYTHON_FASTAPI_EXCLUDED_URLS says otherwise."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    configured = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),  # metrics are Prometheus', per app (incidents_common.metrics)
        server_request_hook=_redact_server_span,
        excluded_urls=None if configured else DEFAULT_EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )


def instrument_http_client(client: Any) -> Any:
    """Client spans and an injected traceparent for one httpx client that calls our own services.

    Only internal clients are instrumented: the collector's calls to VK and Telegram carry tokens in
    their URLs, and a third party has no use for our trace ids. Returns the client.
    """
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=current_tracer_provider(), meter_provider=NoOpMeterProvider()
    )
    return client
