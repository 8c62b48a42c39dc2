"""Thin HTTP handlers: posts (push, import, read), sources (CRUD, enable/disable), Telegram webhook.

The ingest endpoints run their own transaction through the app's `Ingestor` rather than the
request session: SQLite writers must be serialised and unique-key races retried, which needs the
commit inside the retry loop.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from pydantic import BaseModel, Field

from collector import service
from collector.connectors.base import ConnectorError
from collector.connectors.telegram import post_from_update, set_webhook
from collector.importer import import_lines
from collector.scheduler import Scheduler
from collector.schemas import (
    ImportResult,
    IngestResult,
    PostBatch,
    PostPage,
    PostRead,
    PostSubmission,
    SourceCreate,
    SourcePage,
    SourceRead,
    SourceUpdate,
)
from collector.service import Ingestor
from incidents_common.app import SessionDep
from incidents_common.events import SourceType
from incidents_common.problems import Forbidden, InvalidInput, NotFound, ProblemError

router = APIRouter()
# Telegram itself calls the webhook, with the secret token it was given instead of a service token.
public_router = APIRouter()

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain")


def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def _wake(request: Request) -> None:
    scheduler: Scheduler | None = request.app.state.scheduler
    if scheduler is not None:
        scheduler.wake()


@router.post(
    "/v1/posts",
    tags=["posts"],
    summary="Push one post or a batch of up to 1000",
    response_model=IngestResult,
    responses={503: {"description": "Too many events wait for NATS; retry later"}},
)
async def push_posts(request: Request, submission: Annotated[PostSubmission, Body()]) -> Response:
    """A batch is all-or-nothing: if one post is invalid nothing is stored (422 lists the bad fields)."""
    posts = submission.posts if isinstance(submission, PostBatch) else [submission]
    ingestor = _ingestor(request)
    await ingestor.check_backpressure()
    result = await ingestor.ingest(posts)
    # Serialised directly: FastAPI would validate the 1,000 items of a batch once more first.
    return Response(result.model_dump_json(), media_type="application/json")


@router.post(
    "/v1/posts/import",
    tags=["posts"],
    summary="Import a JSONL file (body or multipart upload); bad lines are reported, good lines stored",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "description": "One post object per line"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def import_posts(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file") or next((v for v in form.values() if hasattr(v, "read")), None)
        if upload is None or isinstance(upload, str):
            raise InvalidInput("the multipart body needs a file part named 'file'")
        data = await upload.read()
    elif content_type in NDJSON_TYPES or content_type == "":
        data = await request.body()
    else:
        raise UnsupportedMediaType(f"send application/x-ndjson or multipart/form-data, not {content_type!r}")
    if not data.strip():
        raise InvalidInput("the file is empty")
    ingestor = _ingestor(request)
    await ingestor.check_backpressure()
    result = await import_lines(ingestor, data.splitlines(), batch=request.app.state.settings.import_batch)
    if result.rejected and result.rejected == result.lines:
        raise service.ValidationProblem(
            f"none of the {result.lines} line(s) is a valid post",
            errors=[e.model_dump() for e in result.errors[:50]],
        )
    return result


class UnsupportedMediaType(InvalidInput):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


@router.get("/v1/posts", tags=["posts"], summary="Stored posts, newest first", response_model=PostPage)
async def list_posts(
    session: SessionDep,
    source_id: str | None = None,
    source_type: SourceType | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PostPage:
    return await service.list_posts(session, source_id=source_id, source_type=source_type, limit=limit, offset=offset)


@router.get("/v1/posts/{post_id}", tags=["posts"], summary="One stored post", response_model=PostRead)
async def get_post(session: SessionDep, post_id: str) -> PostRead:
    return await service.get_post(session, post_id=post_id)


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


@router.post(
    "/v1/sources",
    tags=["sources"],
    summary="Add a source",
    status_code=status.HTTP_201_CREATED,
    response_model=SourceRead,
)
async def create_source(request: Request, session: SessionDep, data: Annotated[SourceCreate, Body()]) -> SourceRead:
    created = await service.create_source(session, data=data, box=request.app.state.settings.secret_box())
    request.state.wake_scheduler = True
    return created


@router.get("/v1/sources", tags=["sources"], summary="All sources with their status", response_model=SourcePage)
async def list_sources(session: SessionDep, type: str | None = None) -> SourcePage:  # noqa: A002 - API name
    items = await service.list_sources(session, kind=type)
    return SourcePage(items=items, total=len(items))


@router.get("/v1/sources/{source_id}", tags=["sources"], summary="One source", response_model=SourceRead)
async def get_source(session: SessionDep, source_id: str) -> SourceRead:
    return await service.get_source(session, source_id=source_id)


@router.patch("/v1/sources/{source_id}", tags=["sources"], summary="Change a source", response_model=SourceRead)
async def update_source(request: Request, session: SessionDep, source_id: str, data: SourceUpdate) -> SourceRead:
    updated = await service.update_source(
        session, source_id=source_id, data=data, box=request.app.state.settings.secret_box()
    )
    request.state.wake_scheduler = True
    return updated


@router.delete(
    "/v1/sources/{source_id}",
    tags=["sources"],
    summary="Delete a source (its posts stay)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_source(session: SessionDep, source_id: str) -> Response:
    await service.delete_source(session, source_id=source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/sources/{source_id}/enable", tags=["sources"], summary="Enable polling", response_model=SourceRead)
async def enable_source(request: Request, session: SessionDep, source_id: str) -> SourceRead:
    updated = await service.set_enabled(session, source_id=source_id, enabled=True)
    request.state.wake_scheduler = True
    return updated


@router.post("/v1/sources/{source_id}/disable", tags=["sources"], summary="Disable polling", response_model=SourceRead)
async def disable_source(session: SessionDep, source_id: str) -> SourceRead:
    return await service.set_enabled(session, source_id=source_id, enabled=False)


@router.post("/v1/sources/{source_id}/run", tags=["sources"], summary="Poll now", response_model=SourceRead)
async def run_source(request: Request, session: SessionDep, source_id: str) -> SourceRead:
    updated = await service.run_now(session, source_id=source_id)
    request.state.wake_scheduler = True
    return updated


@router.get(
    "/v1/sources/{source_id}/cursors",
    tags=["sources"],
    summary="Where the source stopped (VK search/wall/comments, Telegram offset, feed ETag)",
    response_model=dict[str, dict[str, Any]],
)
async def get_cursors(session: SessionDep, source_id: str) -> dict[str, dict[str, Any]]:
    return await service.source_cursors(session, source_id=source_id)


@router.delete(
    "/v1/sources/{source_id}/cursors",
    tags=["sources"],
    summary="Reset the cursors: the next poll starts afresh (stored posts stay de-duplicated)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def reset_cursors(request: Request, session: SessionDep, source_id: str) -> Response:
    await service.reset_cursors(session, source_id=source_id)
    request.state.wake_scheduler = True
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------
# Telegram webhook
# ---------------------------------------------------------------------------------------------


class WebhookRegistration(BaseModel):
    url: str = Field(pattern=r"^https://", max_length=2000, description="Public HTTPS URL of the webhook endpoint")


@router.post(
    "/v1/sources/{source_id}/telegram/set-webhook",
    tags=["telegram"],
    summary="Register the webhook with Telegram (setWebhook with the source's secret token)",
)
async def register_webhook(request: Request, source_id: str, data: WebhookRegistration) -> dict[str, Any]:
    ingestor = _ingestor(request)
    async with ingestor.db.sessions() as session:
        source = await service.get_source_row(session, source_id=source_id)
    if source.type != "telegram" or source.settings.get("mode") != "webhook":
        raise InvalidInput("only a Telegram source in webhook mode can register a webhook")
    settings = request.app.state.settings
    revealed = service.reveal_settings(settings.secret_box(), source.settings)
    async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
        try:
            answer = await set_webhook(
                http,
                base_url=str(revealed.get("base_url") or settings.telegram_base_url),
                token=str(revealed["token"]),
                url=data.url,
                secret=str(revealed["secret"]),
            )
        except (ConnectorError, httpx.HTTPError) as exc:
            reason = str(exc) if isinstance(exc, ConnectorError) else type(exc).__name__
            raise UpstreamFailed(service.redact(reason, revealed)) from exc
    return {"ok": True, "description": answer.get("description")}


class UpstreamFailed(ProblemError):
    status, slug, title = 502, "upstream-failed", "Telegram refused the request"


@public_router.post(
    "/v1/telegram/webhook/{source_id}",
    tags=["telegram"],
    summary="Telegram webhook: one Update, authenticated by X-Telegram-Bot-Api-Secret-Token",
    response_model=IngestResult,
)
async def telegram_webhook(
    request: Request,
    source_id: str,
    update: Annotated[dict[str, Any], Body()],
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> IngestResult:
    ingestor = _ingestor(request)
    async with ingestor.db.sessions() as session:
        source = await service.get_source_row(session, source_id=source_id)
    stored_secret = source.settings.get("secret")
    expected = request.app.state.settings.secret_box().reveal(stored_secret) if stored_secret else ""
    if source.type != "telegram" or source.settings.get("mode") != "webhook":
        raise NotFound(f"source {source_id} is not a Telegram webhook source")
    if not expected or not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Forbidden("wrong or missing X-Telegram-Bot-Api-Secret-Token")
    if not source.enabled:
        return IngestResult()  # acknowledged, so Telegram does not retry, but not collected
    try:
        post = post_from_update(update)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"not a Telegram Update: {exc!r}") from exc
    if post is None:
        return IngestResult()
    return await ingestor.ingest([post], source_id=source_id)
