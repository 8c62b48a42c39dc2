"""RFC 9457 problem+json: error types that carry their status, and the handlers that render them."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://incidents.example/problems/"
# Seconds a client should wait before retrying a request the database could not serve.
DATABASE_RETRY_AFTER = 5

log = logging.getLogger("incidents.problems")


class Problem(BaseModel):
    """The RFC 9457 body; `errors` lists field-level problems for validation failures."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """A domain error rendered as problem+json. Subclasses set status, slug and title."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidInput(ProblemError):
    status, slug, title = 400, "invalid-input", "Invalid input"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class ServiceUnavailable(ProblemError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_response(
    status: int,
    title: str,
    *,
    slug: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()[:50]
    ]


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.title,
            slug=exc.slug,
            detail=exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                400, "Malformed JSON", slug="malformed-json", detail=errors[0]["msg"], instance=request.url.path
            )
        return problem_response(
            422,
            "Validation failed",
            slug="validation-failed",
            detail=f"{len(errors)} field(s) failed validation",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, BodyTooLarge):
            return exc.response(instance=request.url.path)
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(
            exc.status_code,
            _reason(exc.status_code),
            slug=_slug(exc.status_code),
            detail=detail,
            instance=request.url.path,
            headers=headers,
        )

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # A locked SQLite file past its busy timeout, a PostgreSQL that went away, a full pool: the
        # request changed nothing (its transaction rolled back), so the client may retry it.
        from incidents_common.nats.failures import is_infrastructure_failure  # (imports the events)

        if is_infrastructure_failure(exc):
            log.warning(
                "database unavailable for a request",
                extra={"path": request.url.path, "error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )
            return problem_response(
                503,
                "Database unavailable",
                slug="database-unavailable",
                detail="the service's database did not answer in time; nothing was changed, retry later",
                instance=request.url.path,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
            )
        return await on_unexpected(request, exc)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in a request", extra={"path": request.url.path}, exc_info=exc)
        return problem_response(
            500, "Internal error", slug="internal-error", detail="the error is logged", instance=request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(SQLAlchemyError, on_database)
    app.add_exception_handler(sqlite3.Error, on_database)
    # Anything else: problem+json too (Starlette's server-error middleware renders it and re-raises).
    app.add_exception_handler(Exception, on_unexpected)


class BodyTooLarge(StarletteHTTPException):
    """A body over the service's limit. An HTTP exception, so that it passes through FastAPI's body
    parsing (which turns any other error met while reading the body into a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the body limit is {max_bytes} bytes")

    def response(self, instance: str | None = None) -> JSONResponse:
        return problem_response(
            413, "Payload too large", slug="payload-too-large", detail=self.detail, instance=instance
        )


def _slug(status: int) -> str:
    """One `type` per status for the errors raised without a problem class of their own (an auth
    dependency's 401, a route's 404), so a client sees the same type whatever raised it."""
    return {401: Unauthorized.slug, 403: Forbidden.slug, 413: PayloadTooLarge.slug}.get(
        status, _reason(status).lower().replace(" ", "-")
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": title}
    for status, title in (
        (400, "Malformed request"),
        (404, "Not found"),
        (413, "Body too large"),
        (422, "Validation failed"),
    )
}
