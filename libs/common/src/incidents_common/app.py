"""The part of every service's FastAPI app that is the same: problems, body limits, health probes,
tracing and metrics (docs/observability.md)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import Response
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ConfigDict
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidents_common.db import Database
from incidents_common.deadletters import dead_letter_router
from incidents_common.identity import PROTECTED, Identity, install_identity
from incidents_common.logging import setup_logging
from incidents_common.metrics import HttpMetrics, ServiceMetrics, authorize_scrape, metrics_response
from incidents_common.nats import BatchHandler, ConsumerSpec, EventRuntime
from incidents_common.nats.failures import probe_database
from incidents_common.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    BodyTooLarge,
    Problem,
    install_problem_handlers,
    problem_response,
)
from incidents_common.settings import ServiceSettings
from incidents_common.tracing import configure_tracing, instrument_fastapi, use_tracer_provider

log = logging.getLogger("incidents.app")

# A readiness probe that waits longer than this on the database calls it not ready.
READY_TIMEOUT = 2.0


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413 problem+json, counting streamed bodies too."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # A streamed (chunked) body: the app's exception handlers answer 413 where the
                    # app reads it; a body read outside them comes back here.
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await BodyTooLarge(self.max_bytes).response()(scope, receive, send)


class _AppTracing:
    """Spans started while a request is handled (and tasks it creates) go to this app's provider."""

    def __init__(self, app: ASGIApp, provider: TracerProvider) -> None:
        self.app = app
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with use_tracer_provider(self.provider):
            await self.app(scope, receive, send)


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "service": "routing"}]})

    status: Literal["ok"] = "ok"
    service: str


class Health(BaseModel):
    """The process answers, and how it is connected (whether NATS is, which database it uses)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "service": "routing", "nats_connected": True, "database": "sqlite"}]
        }
    )

    status: Literal["ok"] = "ok"
    service: str
    nats_connected: bool
    database: Literal["sqlite", "postgresql"]


class Readiness(BaseModel):
    """Every dependency answered: `checks` names each (`ok`, or `disabled` for NATS in some tests)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "service": "routing", "checks": {"database": "ok", "nats": "ok"}}]
        }
    )

    status: Literal["ready"] = "ready"
    service: str
    checks: dict[str, str]


async def readiness_checks(db: Database, events: EventRuntime | None) -> dict[str, str]:
    """`ok` per dependency, or why not: the database answers (SELECT 1; on SQLite the write lock is
    granted too, since a locked file still reads), NATS (when enabled) is connected.

    The reasons are short and fixed (the probe is public); the error itself goes to the log.
    """
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await probe_database(db, READY_TIMEOUT)
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = f"no answer within {READY_TIMEOUT:g}s"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable ({type(exc).__name__})"
        log.warning("readiness: database check failed", extra={"error": repr(exc)})
    if events is None:
        checks["nats"] = "disabled"
    elif not events.connected:
        checks["nats"] = "not connected"
    else:
        checks["nats"] = "ok" if events.ready.is_set() else "connected; streams not set up yet"
    return checks


Hook = Callable[[], Awaitable[None]]


def tune_garbage_collector() -> None:
    """Tune Python's cycle collector for a service that has finished starting.

    What is alive after start-up (modules, the model, caches) is frozen out of the collector's
    scans, and the youngest generation is collected every 10,000 allocations instead of 700: a
    consumer batch allocates and frees hundreds of thousands of short-lived objects (pydantic
    models, rows), and the default ran a collection every few posts, 20-30 % of routing's CPU. A
    full pass over the start-up objects (the gateway's morphological dictionaries: some 150,000)
    took 70-90 ms every few hundred requests, the read API's p99 (bench/read_api.py). While a
    consumer batch is handled, the collector waits altogether (nats.gcpause)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel a service's background tasks (scanners, watchers, the metrics refresher) and wait until
    each has ended; the list is emptied, so that a restarted app starts them afresh."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()


def create_service_app(
    *,
    title: str,
    description: str,
    version: str,
    settings: ServiceSettings,
    db: Database,
    events: EventRuntime | None,
    on_startup: list[Hook] | None = None,
    on_shutdown: list[Hook] | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
    allowed_callers: Sequence[str] = (),
) -> FastAPI:
    """Build a FastAPI app with the shared behaviour; the service adds its routers.

    Every service loads its identity (its own private key and the trusted public keys) before it
    serves: routers included with `dependencies=PROTECTED` accept only tokens of `allowed_callers`.
    """
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    tracer_provider = configure_tracing(settings.service_name, version=version)
    metrics = ServiceMetrics(settings.service_name, version, db=db, events=events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No keys, no start: a service that cannot authenticate its callers must not serve them.
        install_identity(app, Identity.load(settings.service_name, settings.identity_dir), allowed_callers)
        await db.migrate()  # the schema at the newest revision (incidents_common.migrations)
        # Tasks started from here on (hooks, consumers, relay, scanners) trace with this app's provider.
        tracing_scope = contextlib.ExitStack()
        tracing_scope.enter_context(use_tracer_provider(tracer_provider))
        for hook in on_startup or []:
            await hook()
        tune_garbage_collector()
        if events is not None:
            await events.start()
        refresher = asyncio.create_task(metrics.run(), name=f"{settings.service_name}-metrics")
        try:
            yield
        finally:
            await stop_tasks([refresher])
            if events is not None:
                await events.stop()
            for hook in on_shutdown or []:
                await hook()
            await db.dispose()
            # Spans still queued for the exporter go out now (the provider stays usable for a restart).
            await asyncio.to_thread(tracer_provider.force_flush)
            tracing_scope.close()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        openapi_tags=openapi_tags,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.events = events
    app.state.metrics = metrics
    app.state.tracer_provider = tracer_provider
    install_problem_handlers(app)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics, metrics=metrics)
    app.add_middleware(_AppTracing, provider=tracer_provider)
    # Server spans (route templates, the caller's traceparent continued) around everything above.
    instrument_fastapi(app, tracer_provider)

    @app.get("/health", tags=["health"], summary="Liveness and dependencies")
    async def health() -> Health:
        return Health(
            service=settings.service_name,
            nats_connected=bool(events and events.connected),
            database="sqlite" if db.is_sqlite else "postgresql",
        )

    @app.get("/health/live", tags=["health"], summary="Liveness: the process answers")
    async def live() -> Liveness:
        return Liveness(service=settings.service_name)

    @app.get(
        "/health/ready",
        response_model=Readiness,
        tags=["health"],
        summary="Readiness: the database answers and NATS (when enabled) is connected",
        responses={
            503: {
                "model": Problem,
                "content": {PROBLEM_MEDIA_TYPE: {}},
                "description": "Not ready: `checks` says which dependency is not",
            }
        },
    )
    async def ready() -> Any:
        checks = await readiness_checks(db, events)
        failing = {name: state for name, state in checks.items() if state not in ("ok", "disabled")}
        if failing:
            return problem_response(
                503,
                "Not ready",
                slug="not-ready",
                detail="; ".join(f"{name}: {state}" for name, state in failing.items()),
                instance="/health/ready",
                checks=checks,
                headers={"Retry-After": "5"},
            )
        return Readiness(service=settings.service_name, checks=checks)

    # Prometheus' door: the operator's service token or the scrapers' token (settings.metrics_token).
    # Left out of the OpenAPI documents: it is the operator's, not part of any service's API.
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        authorize_scrape(request, settings.metrics_token.get_secret_value())
        return metrics_response(metrics, request)

    return app


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    # A read sees one state of the database (db.transaction), however many queries it takes.
    async with db.transaction(snapshot=request.method in ("GET", "HEAD")) as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a client never sees
# success for a change whose commit then failed.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]

Held = TypeVar("Held")


def app_state(name: str, kind: type[Held]) -> Callable[[Request], Awaitable[Held]]:
    """A dependency that hands a handler what the app holds as `app.state.<name>` (its settings, an
    upstream client …), so that the handler names it in its signature:
    `SettingsDep = Annotated[Settings, Depends(app_state("settings", Settings))]`. `kind` types the
    answer for mypy; it is not checked at run time."""

    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    async def dependency(request: Request) -> Held:
        held: Held = getattr(request.app.state, name)
        return held

    dependency.__name__ = f"{name}_of"
    return dependency


# ---------------------------------------------------------------------------------------------
# One wiring for every service: its settings, tables, consumers and routers in, the app out.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumes:
    """One durable consumer as a service declares it. The durable name is the unprefixed one (the
    settings' `stream_prefix` is put in front); `batch` defaults to the settings' `consumer_batch`."""

    durable: str
    stream: str
    subject: str
    handler: BatchHandler
    batch: int | None = None


def event_runtime(settings: ServiceSettings, db: Database, consumes: Sequence[Consumes]) -> EventRuntime | None:
    """The service's NATS side (outbox relay and its consumers), or None when NATS is off (unit tests)."""
    if not settings.nats_enabled:
        return None
    return EventRuntime(
        db=db,
        nats_url=settings.nats_url,
        client_name=settings.service_name,
        outbox_batch=settings.outbox_batch,
        user=settings.nats_user or None,
        password=settings.nats_password.get_secret_value() or None,
        streams=settings.stream_specs(),
        consumers=[
            ConsumerSpec(
                durable=settings.stream_prefix + consumer.durable,
                stream=consumer.stream,
                filter_subject=consumer.subject,
                handler=consumer.handler,
                batch=consumer.batch or settings.consumer_batch,
                max_deliver=settings.max_deliver,
            )
            for consumer in consumes
        ],
    )


def create_service(
    *,
    settings: ServiceSettings,
    db: Database,
    title: str,
    description: str,
    version: str,
    consumes: Sequence[Consumes] = (),
    routers: Sequence[APIRouter] = (),
    public_routers: Sequence[APIRouter] = (),
    admin_dependencies: Sequence[DependsParam] = tuple(PROTECTED),
    allowed_callers: Sequence[str] | None = None,
    on_startup: list[Hook] | None = None,
    on_shutdown: list[Hook] | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
) -> FastAPI:
    """A service's whole app: the shared behaviour (create_service_app), its event runtime, its routers
    behind the service-token check (`routers`) or open to their own auth (`public_routers`, the
    gateway's and the Telegram webhook), and the operator's dead-letter API behind `admin_dependencies`.
    `allowed_callers`: whose service tokens it takes (default: the settings')."""
    app = create_service_app(
        allowed_callers=settings.allowed_callers if allowed_callers is None else allowed_callers,
        title=title,
        description=description,
        version=version,
        settings=settings,
        db=db,
        events=event_runtime(settings, db, consumes),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        openapi_tags=openapi_tags,
    )
    for router in routers:
        app.include_router(router, dependencies=PROTECTED)
    for router in public_routers:
        app.include_router(router)
    app.include_router(dead_letter_router(), dependencies=list(admin_dependencies))
    return app
