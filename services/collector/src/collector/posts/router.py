"""Stored posts: list (newest first) and one. Pushing and importing are ingest's (collector.ingest.router)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from collector.posts import service
from collector.posts.schemas import PostPage, PostRead
from incidents_common.app import SessionDep
from incidents_common.events import SourceType

router = APIRouter()


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
