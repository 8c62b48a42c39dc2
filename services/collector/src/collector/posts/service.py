"""Stored posts without HTTP: read, list, and retention. Functions take a session and never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from collector.models import Post
from collector.posts.schemas import AuthorRead, PostPage, PostRead
from incidents_common.db import utcnow
from incidents_common.events import SourceType
from incidents_common.problems import NotFound


def post_read(post: Post) -> PostRead:
    author = None
    if post.author_id or post.author_name:
        author = AuthorRead(
            id=post.author_id, name=post.author_name, profile_url=post.author_url, followers=post.author_followers
        )
    return PostRead(
        id=post.id,
        version=post.version,
        source_id=post.source_id,
        source_type=SourceType(post.source_type),
        external_id=post.external_id,
        url=post.url,
        author=author,
        text=post.text,
        published_at=post.published_at,
        collected_at=post.collected_at,
        updated_at=post.updated_at,
        language=post.language,
        place_hints=post.place_hints,
        parent_external_id=post.parent_external_id,
        repost_chain=post.repost_chain,
        reach=post.reach,
    )


async def list_posts(
    session: AsyncSession,
    *,
    source_id: str | None = None,
    source_type: SourceType | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PostPage:
    query = select(Post)
    count = select(func.count()).select_from(Post)
    if source_id is not None:
        query = query.where(col(Post.source_id) == source_id)
        count = count.where(col(Post.source_id) == source_id)
    if source_type is not None:
        query = query.where(col(Post.source_type) == str(source_type))
        count = count.where(col(Post.source_type) == str(source_type))
    query = query.order_by(col(Post.collected_at).desc(), col(Post.id)).limit(limit).offset(offset)
    total = int((await session.exec(count)).one())
    rows = (await session.exec(query)).all()
    return PostPage(items=[post_read(p) for p in rows], total=total, limit=limit, offset=offset)


async def get_post(session: AsyncSession, *, post_id: str) -> PostRead:
    post = await session.get(Post, post_id)
    if post is None:
        raise NotFound(f"post {post_id} not found")
    return post_read(post)


async def delete_expired_posts(session: AsyncSession, *, older_than: datetime) -> int:
    """Retention: raw posts collected before `older_than` are deleted."""
    result = await (await session.connection()).execute(delete(Post).where(col(Post.collected_at) < older_than))
    return int(result.rowcount or 0)


def retention_cutoff(days: int) -> datetime:
    return utcnow() - timedelta(days=days)
