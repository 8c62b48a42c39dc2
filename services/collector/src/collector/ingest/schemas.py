"""API models of ingest: the push/import post format (PostCreate), ingest and import results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from incidents_common.events import SourceType

MAX_BATCH = 1000
# Counts beyond the largest integer JSON carries exactly (and far beyond any real audience) are input errors.
MAX_COUNT = 2**53 - 1
FUTURE_SLACK = timedelta(days=1)


class _Incoming(BaseModel):
    # Unknown fields are ignored so that third-party feeds can send richer objects than ours.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _without_nul(self) -> Self:
        """NUL characters dropped from names, ids and links: PostgreSQL cannot store them in text, and
        a feed that sends one should not lose its post for it (the text's become spaces when cleaned)."""
        for name, value in self.__dict__.items():
            if type(value) is str and "\x00" in value and name != "text":
                object.__setattr__(self, name, value.replace("\x00", ""))
        return self


class AuthorCreate(_Incoming):
    id: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=500)
    profile_url: str | None = Field(default=None, max_length=2000)
    followers: int | None = Field(default=None, ge=0, le=MAX_COUNT)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class PlaceHintsCreate(_Incoming):
    city: str | None = Field(default=None, max_length=200)
    region_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    title: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    region_fixed: bool | None = Field(
        default=None,
        description="true: region_code was stated by the submitter (Open311 jurisdiction) and is the post's region",
    )


class ReachCreate(_Incoming):
    likes: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    reposts: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    comments: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    views: int | None = Field(default=None, ge=0, le=MAX_COUNT)


class RepostCreate(_Incoming):
    source_type: SourceType
    external_id: str = Field(min_length=1, max_length=255)
    author: AuthorCreate | None = None


class PostCreate(_Incoming):
    """One post as pushed (POST /v1/posts) or imported (one JSONL line). Only `text` and
    `published_at` are required; a post without `external_id` gets a stable one from a hash."""

    source_type: SourceType = SourceType.push
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    source_id: str | None = Field(default=None, max_length=36)
    url: str | None = Field(default=None, max_length=2000)
    author: AuthorCreate | None = None
    text: str = Field(min_length=1, max_length=100_000)
    published_at: datetime
    language: str | None = Field(default=None, max_length=10)
    # Factories, not shared instances: pydantic deep-copies a model default for every post.
    place_hints: PlaceHintsCreate = Field(default_factory=PlaceHintsCreate)
    parent_external_id: str | None = Field(default=None, max_length=255)
    repost_chain: list[RepostCreate] = Field(default_factory=list, max_length=20)
    reach: ReachCreate = Field(default_factory=ReachCreate)

    @field_validator("external_id", "parent_external_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("published_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        # A day of slack for skewed clocks; a later date is a broken feed, and would open an incident
        # whose deadlines and analytics sit years ahead.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if aware > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("published_at is more than a day in the future")
        return value


class PostBatch(_Incoming):
    posts: list[PostCreate] = Field(min_length=1, max_length=MAX_BATCH)


def _batch_or_single(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "posts" in value else "single"


PostSubmission = Annotated[
    Annotated[PostCreate, Tag("single")] | Annotated[PostBatch, Tag("batch")],
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
