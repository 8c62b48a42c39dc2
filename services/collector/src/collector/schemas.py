"""API models: the push/import post format, ingest results, stored posts and sources."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from incidents_common.events import SourceType

MAX_BATCH = 1000
# Counts beyond the largest integer JSON carries exactly (and far beyond any real audience) are input errors.
MAX_COUNT = 2**53 - 1


class _In(BaseModel):
    # Unknown fields are ignored so that third-party feeds can send richer objects than ours.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class AuthorIn(_In):
    id: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=500)
    profile_url: str | None = Field(default=None, max_length=2000)
    followers: int | None = Field(default=None, ge=0, le=MAX_COUNT)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class PlaceHintsIn(_In):
    city: str | None = Field(default=None, max_length=200)
    region_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    title: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    region_fixed: bool | None = Field(
        default=None,
        description="true: region_code was stated by the submitter (Open311 jurisdiction) and is the post's region",
    )


class ReachIn(_In):
    likes: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    reposts: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    comments: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    views: int | None = Field(default=None, ge=0, le=MAX_COUNT)


class RepostIn(_In):
    source_type: SourceType
    external_id: str = Field(min_length=1, max_length=255)
    author: AuthorIn | None = None


class PostIn(_In):
    """One post as pushed (POST /v1/posts) or imported (one JSONL line). Only `text` and
    `published_at` are required; a post without `external_id` gets a stable one from a hash."""

    source_type: SourceType = SourceType.push
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    source_id: str | None = Field(default=None, max_length=36)
    url: str | None = Field(default=None, max_length=2000)
    author: AuthorIn | None = None
    text: str = Field(min_length=1, max_length=100_000)
    published_at: datetime
    language: str | None = Field(default=None, max_length=10)
    place_hints: PlaceHintsIn = PlaceHintsIn()
    parent_external_id: str | None = Field(default=None, max_length=255)
    repost_chain: list[RepostIn] = Field(default_factory=list, max_length=20)
    reach: ReachIn = ReachIn()

    @field_validator("external_id", "parent_external_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class PostBatch(_In):
    posts: list[PostIn] = Field(min_length=1, max_length=MAX_BATCH)


def _batch_or_single(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "posts" in value else "single"


PostSubmission = Annotated[
    Annotated[PostIn, Tag("single")] | Annotated[PostBatch, Tag("batch")],
    Discriminator(_batch_or_single),
]


class IngestStatus(StrEnum):
    created = "created"
    duplicate = "duplicate"
    updated = "updated"


class IngestItem(BaseModel):
    post_id: str
    source_type: SourceType
    external_id: str
    version: int
    status: IngestStatus


class IngestResult(BaseModel):
    """accepted = new posts stored; updated = edited posts stored as a new version; duplicates = unchanged."""

    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    items: list[IngestItem] = Field(default_factory=list)

    def merge(self, other: IngestResult, *, keep_items: bool = True) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.updated += other.updated
        if keep_items:
            self.items.extend(other.items)


class LineError(BaseModel):
    line: int
    error: str


class ImportResult(BaseModel):
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[LineError] = Field(default_factory=list, description="The first 1000 bad lines")


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


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


class SourceKind(StrEnum):
    vk = "vk"
    telegram = "telegram"
    rss = "rss"


class SourceState(StrEnum):
    ok = "ok"
    failing = "failing"
    disabled = "disabled"


class VkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, min_length=1, max_length=500, description="Access token (write-only)")
    api_version: str | None = Field(default=None, pattern=r"^\d+\.\d+$")
    base_url: str | None = Field(default=None, pattern=r"^https?://", description="Overrides COLLECTOR_VK_BASE_URL")
    queries: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=100)
    owner_ids: list[int] = Field(default_factory=list, max_length=500, description="Walls: groups are negative")
    watched_posts: list[Annotated[str, Field(pattern=r"^-?\d+_\d+$")]] = Field(
        default_factory=list, max_length=500, description='"<owner_id>_<post_id>" whose comments are collected'
    )
    page_size: int = Field(default=100, ge=1, le=200)
    max_pages: int = Field(default=10, ge=1, le=100, description="Pages per query/wall in one poll")
    lookback_hours: int = Field(default=24, ge=1, le=24 * 30, description="How far back the first search goes")


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, min_length=1, max_length=500, description="Bot token (write-only)")
    mode: Literal["polling", "webhook"] = "polling"
    secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,256}$",
        description="Webhook secret_token, checked in X-Telegram-Bot-Api-Secret-Token (write-only)",
    )
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    long_poll_timeout: int = Field(default=25, ge=0, le=50)


class RssSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)
    city: str | None = Field(default=None, max_length=200, description="Place hint for every entry")
    region_code: str | None = Field(default=None, pattern=r"^\d{2}$")


SETTINGS_MODELS: dict[str, type[BaseModel]] = {
    SourceKind.vk: VkSettings,
    SourceKind.telegram: TelegramSettings,
    SourceKind.rss: RssSettings,
}
SECRET_FIELDS = ("token", "secret")


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    interval_seconds: float = Field(default=300.0, ge=1, le=7 * 24 * 3600)


class VkSourceCreate(_SourceBase):
    type: Literal["vk"]
    settings: VkSettings


class TelegramSourceCreate(_SourceBase):
    type: Literal["telegram"]
    settings: TelegramSettings


class RssSourceCreate(_SourceBase):
    type: Literal["rss"]
    settings: RssSettings


SourceCreate = Annotated[VkSourceCreate | TelegramSourceCreate | RssSourceCreate, Field(discriminator="type")]


class SourceUpdate(BaseModel):
    """Partial update; `settings` is merged into the stored settings (omit `token` to keep it)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    interval_seconds: float | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    settings: dict[str, Any] | None = None


class SourceRead(BaseModel):
    id: str
    name: str
    type: SourceKind
    enabled: bool
    interval_seconds: float
    settings: dict[str, Any] = Field(description="Type settings without secrets")
    token_set: bool
    secret_set: bool
    state: SourceState
    last_run: datetime | None
    last_success: datetime | None
    last_error: str | None
    posts_collected: int
    consecutive_failures: int
    next_run: datetime | None
    created_at: datetime
    updated_at: datetime


class SourcePage(BaseModel):
    items: list[SourceRead]
    total: int
