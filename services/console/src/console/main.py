"""The console's app: pages over the gateway's public API, its own health probes, strict browser
security headers. It has no database and no NATS connection: everything it shows, the gateway gave to
the signed-in user."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import routes_analytics, routes_auth, routes_incidents, routes_live, routes_waiting
from console.config import Settings
from console.deps import CsrfRefused, SignInRequired, page, sessions_of, sign_in_url
from console.gateway import Gateway, GatewayError, SignedOut
from console.sessions import COOKIE, SessionStore
from incidents_common.logging import setup_logging
from incidents_common.settings import CLIENT_KEEP_ALIVE_SECONDS
from incidents_common.tracing import configure_tracing, instrument_fastapi, instrument_http_client

VERSION = "0.1.0"
# Scripts and styles only from this site (htmx, Chart.js and console.js are served from /static): an
# injected <script> in a post's text could not run even if escaping failed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))  # pages hold a user's data
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`transport` lets tests hand the console a gateway app in-process; by default it calls gateway_url."""
    settings = settings or Settings()
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    tracer_provider = configure_tracing(settings.service_name, version=VERSION)
    http = httpx.AsyncClient(
        base_url=settings.gateway_url,
        timeout=settings.gateway_timeout,
        limits=httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS),
        transport=transport,
    )
    instrument_http_client(http)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()

    app = FastAPI(title="Incidents console", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.gateway = Gateway(http)
    app.state.sessions = SessionStore(settings.session_hours * 3600)
    app.add_middleware(SecurityHeaders)
    instrument_fastapi(app, tracer_provider)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for module in (routes_auth, routes_incidents, routes_waiting, routes_analytics, routes_live):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        target = sign_in_url(exc.next_path, exc.reason)
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.url.path == "/live":
            return Response(status_code=401)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, exc: SignedOut) -> Response:
        sessions_of(request).drop(request.cookies.get(COOKIE))
        response = await to_sign_in(request, SignInRequired("/", "expired"))
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        error = GatewayError(403, "Форма устарела", "Обновите страницу и повторите действие.")
        return page(request, "error.html", None, status_code=403, error=error)

    @app.exception_handler(GatewayError)
    async def gateway_failed(request: Request, exc: GatewayError) -> Response:
        return page(request, "error.html", None, status_code=exc.status if exc.status < 500 else 502, error=exc)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "service": settings.service_name, "gateway": settings.gateway_url}

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> Response:
        try:
            answer = await http.get("/health/live", timeout=2.0)
            gateway = "ok" if answer.status_code == 200 else f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            gateway = type(exc).__name__
        body = {
            "status": "ok" if gateway == "ok" else "not ready",
            "service": settings.service_name,
            "checks": {"gateway": gateway},
        }
        return JSONResponse(body, status_code=200 if gateway == "ok" else 503)

    return app
