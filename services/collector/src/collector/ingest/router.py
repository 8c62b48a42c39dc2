"""Ingest endpoints: push (one post or a batch), JSONL import, and the Telegram webhook.

They run their own transaction through the app's `Ingestor` rather than the request session: SQLite
writers must be serialised and unique-key races retried, which needs the commit inside the retry loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response

from collector.deps import IngestorDep, SettingsDep
from collector.ingest.importer import import_upload
from collector.ingest.schemas import ImportResult, IngestResult, PostBatch, PostSubmission
from collector.ingest.webhook import receive_telegram_update
from incidents_common.problems import InvalidInput

router = APIRouter()
# Telegram itself calls the webhook, with the secret token it was given instead of a service token.
public_router = APIRouter()

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain")


class UnsupportedMediaType(InvalidInput):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


@router.post(
    "/v1/posts",
    tags=["posts"],
    summary="Push one post or a batch of up to 1000",
    response_model=IngestResult,
    responses={503: {"description": "Too many events wait for NATS; retry later"}},
)
async def push_posts(ingestor: IngestorDep, submission: Annotated[PostSubmission, Body()]) -> Response:
    """A batch is all-or-nothing: if one post is invalid nothing is stored (422 lists the bad fields)."""
    posts = submission.posts if isinstance(submission, PostBatch) else [submission]
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
async def import_posts(request: Request, ingestor: IngestorDep, settings: SettingsDep) -> Any:
    # The body is read by hand: one endpoint takes both a raw JSONL body and a multipart upload.
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
    return await import_upload(ingestor, data, batch=settings.import_batch)


@public_router.post(
    "/v1/telegram/webhook/{source_id}",
    tags=["telegram"],
    summary="Telegram webhook: one Update, authenticated by X-Telegram-Bot-Api-Secret-Token",
    response_model=IngestResult,
)
async def telegram_webhook(
    ingestor: IngestorDep,
    settings: SettingsDep,
    source_id: str,
    update: Annotated[dict[str, Any], Body()],
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> IngestResult:
    return await receive_telegram_update(
        ingestor, source_id=source_id, update=update, secret=secret, box=settings.secret_box()
    )
