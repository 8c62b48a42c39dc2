"""API models of sources: per-type settings, create/update/read, and the Telegram webhook registration."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


AnySourceCreate = VkSourceCreate | TelegramSourceCreate | RssSourceCreate
SourceCreate = Annotated[AnySourceCreate, Field(discriminator="type")]


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


class WebhookCreate(BaseModel):
    url: str = Field(pattern=r"^https://", max_length=2000, description="Public HTTPS URL of the webhook endpoint")
