"""Prometheus metrics of one service app, served on /metrics: HTTP latency, the event pipeline and
the counters of the service's domain. docs/observability.md lists them all.

Every app has its own CollectorRegistry (tests run several apps in one process). What the event
runtime already keeps (each consumer's `stats`, the relay's `published`, the connection) is read
at scrape time; what costs a round trip (consumer lag from JetStream, the outbox row count) is
refreshed in the background every `refresh_seconds`, so a scrape never waits on NATS or a count.

Domain counters are incremented by service code with `count_on_commit(session, "posts_collected", ...)`:
the increment is applied when the session's transaction commits and dropped when it rolls back,
so a consumer batch that fails and is retried message by message is counted once.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidents_common.db import Database, OutboxMessage, writes_of
from incidents_common.problems import Forbidden, Unauthorized

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from incidents_common.nats import EventRuntime

log = logging.getLogger("incidents.metrics")

PREFIX = "incidents"
# key → (name without _total, help, label names). Each service increments only its own.
DOMAIN_COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "posts_collected": (
        f"{PREFIX}_posts_collected",
        "Posts stored as new or as a new version, each published as post.collected (collector)",
        ("source_type",),
    ),
    "posts_classified": (
        f"{PREFIX}_posts_classified",
        "Post versions classified and published as post.classified (classifier)",
        ("is_incident", "category"),
    ),
    "incidents_created": (
        f"{PREFIX}_incident_created",
        "Incidents opened from a classified complaint (routing)",
        ("region",),
    ),
    "incidents_assigned": (
        f"{PREFIX}_incident_assigned",
        "Assignments of an incident to an official: automatic, manual and re-assignments (routing)",
        ("region",),
    ),
    "deadline_warnings": (
        f"{PREFIX}_deadline_warnings",
        "SLA clocks that reached their warning share (routing)",
        ("region", "clock"),
    ),
    "deadline_breaches": (
        f"{PREFIX}_deadline_breaches",
        "SLA clocks that ran out (routing)",
        ("region", "clock"),
    ),
}
# Latency buckets (seconds): a health probe is ~1 ms, an Open311 submission may wait on the classifier.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "unmatched"
# Label values come from a closed set, whatever a client sends (no series per invented method or path).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_BY_ENGINE: weakref.WeakKeyDictionary[Any, ServiceMetrics] = weakref.WeakKeyDictionary()


class ServiceMetrics:
    """The registry of one service app and the state its scrape reads."""

    def __init__(
        self,
        service: str,
        version: str,
        *,
        db: Database,
        events: EventRuntime | None,
        refresh_seconds: float = 15.0,
    ) -> None:
        self.service = service
        self.db = db
        self.events = events
        self.refresh_seconds = refresh_seconds
        self.registry = CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        info = Gauge(
            f"{PREFIX}_service_info",
            "The service and its version (always 1)",
            ("service", "version"),
            registry=self.registry,
        )
        info.labels(service, version).set(1)
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to its response headers, by route template and status",
            ("method", "route", "status"),
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        # Refreshed in the background (see refresh()); None until the first refresh.
        self.outbox_backlog: int | None = None
        self.consumer_info: dict[str, tuple[str, int, int, int]] = {}
        self.refreshed_at: float | None = None
        self.registry.register(_RuntimeCollector(self))
        _BY_ENGINE[db.engine] = self

    # -- domain counters --------------------------------------------------------------------

    def counter(self, key: str) -> Counter:
        """The domain counter `key` of DOMAIN_COUNTERS, registered on first use."""
        found = self._counters.get(key)
        if found is None:
            name, documentation, labels = DOMAIN_COUNTERS[key]
            found = self._counters[key] = Counter(name, documentation, labels, registry=self.registry)
        return found

    # -- scrape -----------------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the format the scraper accepts (Prometheus text, or OpenMetrics): body and type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    async def refresh(self) -> None:
        """Read what costs a round trip: the outbox row count and each consumer's JetStream state."""
        try:
            async with self.db.sessions() as session:
                self.outbox_backlog = int((await session.exec(select(func.count()).select_from(OutboxMessage))).one())
        except Exception as exc:  # noqa: BLE001 - a scrape shows the gap, the service goes on
            self.outbox_backlog = None
            log.debug("outbox count failed", extra={"error": repr(exc)})
        events = self.events
        js = events.js if events is not None else None
        for consumer in events.consumers if events is not None else ():
            spec = consumer.spec
            if js is None or events is None or not events.connected:
                self.consumer_info.pop(spec.durable, None)
                continue
            try:
                info = await js.consumer_info(spec.stream, spec.durable, timeout=2)
            except Exception as exc:  # noqa: BLE001 - not created yet, or NATS away: no stale figure
                self.consumer_info.pop(spec.durable, None)
                log.debug("consumer info failed", extra={"consumer": spec.durable, "error": repr(exc)})
                continue
            self.consumer_info[spec.durable] = (
                spec.stream,
                int(info.num_pending or 0),
                int(info.num_ack_pending or 0),
                int(info.num_redelivered or 0),
            )
        self.refreshed_at = time.time()

    async def run(self) -> None:
        """The lifespan task: refresh now, then every `refresh_seconds`."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - metrics must never take the service down
                log.warning("metrics refresh failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.refresh_seconds)


class _RuntimeCollector:
    """Reads the event runtime's own counters at scrape time (nothing is counted twice)."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(values=True))

    def _families(self, values: bool = False) -> Iterator[Metric]:
        m = self.metrics
        events = m.events
        connected = GaugeMetricFamily(
            f"{PREFIX}_nats_connected", "1 while the NATS connection is up (0 also when NATS is disabled)"
        )
        backlog = GaugeMetricFamily(f"{PREFIX}_outbox_backlog", "Outbox rows not yet published to NATS")
        published = CounterMetricFamily(f"{PREFIX}_outbox_published", "Outbox rows published to NATS and deleted")
        refreshed = GaugeMetricFamily(
            f"{PREFIX}_metrics_refreshed_timestamp_seconds",
            "When the consumer lag and outbox backlog were last read (Unix time)",
        )
        per_consumer = {
            "processed": CounterMetricFamily(
                f"{PREFIX}_consumer_processed", "Events handled and committed", labels=["consumer"]
            ),
            "duplicates": CounterMetricFamily(
                f"{PREFIX}_consumer_duplicates", "Redelivered events skipped by the inbox", labels=["consumer"]
            ),
            "retried": CounterMetricFamily(
                f"{PREFIX}_consumer_retries",
                "Handler failures sent back for redelivery with back-off",
                labels=["consumer"],
            ),
            "dead_lettered": CounterMetricFamily(
                f"{PREFIX}_consumer_dead_lettered",
                "Events moved to incidents.deadletter.<consumer>",
                labels=["consumer"],
            ),
            # Kept by newer runtimes only (absent fields are left out).
            "transient_retries": CounterMetricFamily(
                f"{PREFIX}_consumer_transient_retries",
                "Infrastructure-looking failures retried while the database answered",
                labels=["consumer"],
            ),
            "timeouts": CounterMetricFamily(
                f"{PREFIX}_consumer_timeouts",
                "Batches or messages that ran past the handler timeout",
                labels=["consumer"],
            ),
            "split_batches": CounterMetricFamily(
                f"{PREFIX}_consumer_split_batches",
                "Batches that failed whole and were retried one event at a time (a bad event, or a bug)",
                labels=["consumer"],
            ),
            "outages": CounterMetricFamily(
                f"{PREFIX}_consumer_outages", "Pauses because the database or NATS was unavailable", labels=["consumer"]
            ),
            "paused_seconds": CounterMetricFamily(
                f"{PREFIX}_consumer_paused_seconds", "Time spent paused by outages", labels=["consumer"]
            ),
        }
        paused = GaugeMetricFamily(f"{PREFIX}_consumer_paused", "1 while the consumer is paused", labels=["consumer"])
        jetstream = [
            GaugeMetricFamily(
                f"{PREFIX}_consumer_pending_messages",
                "Consumer lag: messages of the stream not yet delivered to the consumer (JetStream num_pending)",
                labels=["consumer", "stream"],
            ),
            GaugeMetricFamily(
                f"{PREFIX}_consumer_ack_pending_messages",
                "Messages delivered and not yet acknowledged (JetStream num_ack_pending)",
                labels=["consumer", "stream"],
            ),
            GaugeMetricFamily(
                f"{PREFIX}_consumer_redelivered_messages",
                "Unacknowledged messages delivered more than once (JetStream num_redelivered)",
                labels=["consumer", "stream"],
            ),
        ]
        if values:
            connected.add_metric([], 1.0 if events is not None and events.connected else 0.0)
            if m.outbox_backlog is not None:
                backlog.add_metric([], float(m.outbox_backlog))
            if events is not None:
                published.add_metric([], float(events.relay.published))
                for consumer in events.consumers:
                    durable = consumer.spec.durable
                    for field, family in per_consumer.items():
                        value = getattr(consumer.stats, field, None)
                        if value is not None:
                            family.add_metric([durable], float(value))
                    is_paused = getattr(consumer.stats, "paused", None)
                    if is_paused is not None:
                        paused.add_metric([durable], 1.0 if is_paused else 0.0)
                    info = m.consumer_info.get(durable)
                    if info is not None:
                        stream, *figures = info
                        for gauge, figure in zip(jetstream, figures, strict=True):
                            gauge.add_metric([durable, stream], float(figure))
            if m.refreshed_at is not None:
                refreshed.add_metric([], m.refreshed_at)
        yield connected
        yield backlog
        yield published
        yield refreshed
        yield from per_consumer.values()
        yield paused
        yield from jetstream


# ---------------------------------------------------------------------------------------------
# Domain counters: applied when the transaction commits
# ---------------------------------------------------------------------------------------------


def metrics_of(db_or_session: Any) -> ServiceMetrics | None:
    """The metrics of the app that owns this Database or session's engine (None: no app, e.g. a CLI)."""
    engine = getattr(db_or_session, "engine", None) or getattr(db_or_session, "bind", None)
    return _BY_ENGINE.get(engine) if engine is not None else None


def count_on_commit(session: AsyncSession, key: str, amount: float = 1, **labels: Any) -> None:
    """Add `amount` to the domain counter `key` (see DOMAIN_COUNTERS) once `session` commits."""
    if key not in DOMAIN_COUNTERS:
        raise KeyError(f"unknown counter {key!r}: declare it in DOMAIN_COUNTERS")
    writes_of(session).count(key, amount, **labels)


# ---------------------------------------------------------------------------------------------
# HTTP: latency by route template, and the /metrics door
# ---------------------------------------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/incidents/{incident_id}`), never the raw path."""
    fastapi_scope = scope.get("fastapi")
    effective = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class HttpMetrics:
    """Observes every HTTP request's time to its response headers, by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            if not observed:
                observed = True
                method = scope["method"] if scope["method"] in HTTP_METHODS else "OTHER"
                self.metrics.http_duration.labels(method, route_template(scope), str(status)).observe(
                    time.perf_counter() - started
                )

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception:
            observe(500)
            raise


def _presented_bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authorize_scrape(request: Request, metrics_token: str) -> None:
    """/metrics answers the operator's service token for this service, or the scrapers' bearer token.

    401 without a token or with one that is neither; 403 for a valid token of another identity.
    """
    challenge = 'Bearer realm="incidents-metrics"'
    token = _presented_bearer(request)
    if token is None:
        raise Unauthorized(
            "missing token: send Authorization: Bearer <metrics token or operator service token>",
            headers={"WWW-Authenticate": challenge},
        )
    if metrics_token and hmac.compare_digest(token.encode(), metrics_token.encode()):
        return
    identity = getattr(request.app.state, "identity", None)
    if identity is None:
        raise Unauthorized("this service has not loaded its keys yet", headers={"WWW-Authenticate": challenge})
    try:
        caller = identity.verify(token)
    except Unauthorized as exc:
        exc.headers = {"WWW-Authenticate": f'{challenge}, error="invalid_token"'}
        raise
    if not caller.is_operator:
        raise Forbidden(f"{caller.identity} may not read the metrics of {identity.name}")


def metrics_response(metrics: ServiceMetrics, request: Request) -> Response:
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
