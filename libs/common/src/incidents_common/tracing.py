"""OpenTelemetry set-up and W3C trace-context propagation through CloudEvents' `traceparent`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

_configured = False


def setup_tracing(service_name: str) -> None:
    """Install an SDK tracer provider once per process (spans get real ids for logs and events).

    Exporters are left to the operator (OTEL_* variables with an OTLP exporter package); ids are
    what the logs and events need, and they come from the SDK alone.
    """
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service_name})))
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def parse_traceparent(value: str | None) -> SpanContext | None:
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        return SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3], 16)),
        )
    except ValueError:
        return None


@contextmanager
def continue_trace(name: str, traceparent: str | None) -> Iterator[trace.Span]:
    """A span that continues the trace an event carried (or starts a new one)."""
    parent = parse_traceparent(traceparent)
    context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None
    with trace.get_tracer("incidents").start_as_current_span(name, context=context) as span:
        yield span
