"""Source endpoints: CRUD, enable/disable/run, cursors, and the Telegram webhook's registration.

A change that makes a source due sets `request.state.wake_scheduler`: the app's middleware wakes the
scheduler once the response is sent, i.e. after the change committed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response, status

from collector.deps import SettingsDep
from collector.sources import service
from collector.sources.schemas import SourceCreate, SourcePage, SourceRead, SourceUpdate, WebhookCreate
from incidents_common.app import SessionDep

router = APIRouter()


def _wake_scheduler(request: Request) -> None:
    request.state.wake_scheduler = True


@router.post(
    "/v1/sources",
    tags=["sources"],
    summary="Add a source",
    status_code=status.HTTP_201_CREATED,
    response_model=SourceRead,
)
async def create_source(
    request: Request, session: SessionDep, settings: SettingsDep, data: Annotated[SourceCreate, Body()]
) -> SourceRead:
    created = await service.create_source(session, data=data, box=settings.secret_box())
    _wake_scheduler(request)
    return created


@router.get("/v1/sources", tags=["sources"], summary="All sources with their status", response_model=SourcePage)
async def list_sources(session: SessionDep, type: str | None = None) -> SourcePage:  # noqa: A002 - API name
    items = await service.list_sources(session, kind=type)
    return SourcePage(items=items, total=len(items))


@router.get("/v1/sources/{source_id}", tags=["sources"], summary="One source", response_model=SourceRead)
async def get_source(session: SessionDep, source_id: str) -> SourceRead:
    return await service.get_source(session, source_id=source_id)


@router.patch("/v1/sources/{source_id}", tags=["sources"], summary="Change a source", response_model=SourceRead)
async def update_source(
    request: Request, session: SessionDep, settings: SettingsDep, source_id: str, data: SourceUpdate
) -> SourceRead:
    updated = await service.update_source(session, source_id=source_id, data=data, box=settings.secret_box())
    _wake_scheduler(request)
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
    _wake_scheduler(request)
    return updated


@router.post("/v1/sources/{source_id}/disable", tags=["sources"], summary="Disable polling", response_model=SourceRead)
async def disable_source(session: SessionDep, source_id: str) -> SourceRead:
    return await service.set_enabled(session, source_id=source_id, enabled=False)


@router.post("/v1/sources/{source_id}/run", tags=["sources"], summary="Poll now", response_model=SourceRead)
async def run_source(request: Request, session: SessionDep, source_id: str) -> SourceRead:
    updated = await service.run_now(session, source_id=source_id)
    _wake_scheduler(request)
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
    _wake_scheduler(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/sources/{source_id}/telegram/set-webhook",
    tags=["telegram"],
    summary="Register the webhook with Telegram (setWebhook with the source's secret token)",
)
async def register_webhook(
    session: SessionDep, settings: SettingsDep, source_id: str, data: WebhookCreate
) -> dict[str, Any]:
    answer = await service.register_webhook(session, source_id=source_id, url=data.url, settings=settings)
    return {"ok": True, "description": answer.get("description")}
