"""API models of stored posts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from incidents_common.events import SourceType


class AuthorRead(BaseModel):
    id: str | None = None
    name: str | None = None
    profile_url: str | None = None
    followers: int | None = None


class PostRead(BaseModel):
    id: str
    version: int
    source_id: str | None
    source_type: SourceType
    external_id: str
    url: str | None
    author: AuthorRead | None
    text: str
    published_at: datetime
    collected_at: datetime
    updated_at: datetime
    language: str | None
    place_hints: dict[str, Any]
    parent_external_id: str | None
    repost_chain: list[dict[str, Any]]
    reach: dict[str, Any]


class PostPage(BaseModel):
    items: list[PostRead]
    total: int
    limit: int
    offset: int
