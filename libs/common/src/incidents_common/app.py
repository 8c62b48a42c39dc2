"""The part of every service's FastAPI app that is the same: problems, body limits, health, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidents_common.db import Database
from incidents_common.identity import Identity, install_identity
from incidents_common.logging import setup_logging
from incidents_common.nats import EventRuntime
from incidents_common.problems import PROBLEM_RESPONSES, install_problem_handlers, problem_response
from incidents_common.settings import ServiceSettings
from incidents_common.tracing import continue_trace, setup_tracing


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
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "Payload too large", slug="payload-too-large", detail=f"the body limit is {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


Hook = Callable[[], Awaitable[None]]


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
    setup_tracing(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No keys, no start: a service that cannot authenticate its callers must not serve them.
        install_identity(app, Identity.load(settings.service_name, settings.identity_dir), allowed_callers)
        await db.create_tables()
        for hook in on_startup or []:
            await hook()
        if events is not None:
            await events.start()
        try:
            yield
        finally:
            if events is not None:
                await events.stop()
            for hook in on_shutdown or []:
                await hook()
            await db.dispose()

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
    install_problem_handlers(app)

    @app.middleware("http")
    async def trace_requests(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        with continue_trace(f"{request.method} {request.url.path}", request.headers.get("traceparent")):
            return await call_next(request)

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.get("/health", tags=["health"], summary="Liveness and dependencies")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "service": settings.service_name,
            "nats_connected": bool(events and events.connected),
            "database": "sqlite" if db.is_sqlite else "postgresql",
        }

    return app


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.transaction() as session:
        yield session


# scope="function": the transaction commits before the response is sent, so a client never sees
# success for a change whose commit then failed.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
