"""API models of the classifier."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from incidents_common.events import Classification, PlaceHints, ReactionLabel, Sentiment, SourceType, Urgency
from incidents_common.regions import is_region_code


class ClassifyRequest(BaseModel):
    """One post to classify: its text and what its source says about place."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1, max_length=100_000, examples=["В Энгельсе третий день нет воды, звонили в УК — тишина"]
    )
    place_hint: str | None = Field(
        default=None, max_length=500, description="The source's place hint: a community's city, a channel's title"
    )
    place_hints: PlaceHints | None = Field(default=None, description="Structured hints, as in PostCollected")
    source_type: SourceType | None = None


class ClassifyBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    posts: list[ClassifyRequest] = Field(min_length=1)


class ClassifyBatchResponse(BaseModel):
    model_version: str
    results: list[Classification]


class FeedbackCreate(BaseModel):
    """An operator's correction of any field. Name the post (post_id) or give its text."""

    model_config = ConfigDict(extra="forbid")

    post_id: str | None = Field(default=None, max_length=64)
    version: int | None = Field(default=None, ge=1, description="Post version; the latest classified when omitted")
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    place_hint: str | None = Field(default=None, max_length=500)
    is_incident: bool | None = None
    category: str | None = Field(default=None, max_length=64)
    urgency: Urgency | None = None
    sentiment: Sentiment | None = None
    region_code: str | None = Field(default=None, description="Two-digit ФИАС/ГАР code")
    city: str | None = Field(default=None, max_length=128)
    operator: str | None = Field(default=None, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("region_code")
    @classmethod
    def known_region(cls, value: str | None) -> str | None:
        if value is not None and not is_region_code(value):
            raise ValueError(f"unknown region code {value!r}")
        return value


class FeedbackRead(BaseModel):
    id: int
    post_id: str | None
    post_version: int | None
    text: str
    is_incident: bool
    category: str | None
    urgency: str
    sentiment: str
    region_code: str | None
    city: str | None
    corrected: list[str]
    model_version: str | None
    operator: str | None
    comment: str | None
    created_at: datetime


class FeedbackPage(BaseModel):
    items: list[FeedbackRead]
    total: int
    limit: int
    offset: int


class LabelInfo(BaseModel):
    code: str
    label: str
    description: str | None = None


class ModelRead(BaseModel):
    version: str
    created_at: str
    path: str
    labels: dict[str, list[LabelInfo]]
    metrics: dict[str, Any]
    training: dict[str, Any]


class StoredClassificationRead(BaseModel):
    post_id: str
    version: int
    model_version: str
    created_at: datetime
    classification: Classification


class ReplyScoreRequest(BaseModel):
    complaint: str = Field(default="", max_length=20_000, description="The citizen's post the reply answers")
    reply: str = Field(min_length=1, max_length=20_000, description="The official's reply, before it is published")


class ReplyScoreRead(BaseModel):
    """Does the reply answer the complaint, or is it a formula («отписка»)? With what it lacks."""

    quality: float = Field(ge=0.0, le=1.0, description="One minus the model's probability of an отписка")
    verdict: Literal["answer", "otpiska"]
    mentions_problem: bool
    has_action: bool
    has_term: bool
    has_who: bool
    reasons: list[str] = Field(description="Formulas found and what is missing, in Russian")
    suggestions: list[str] = Field(description="What to add, for the official («укажите срок» …)")
    evidence: dict[str, list[str]] = Field(
        description="The words behind each answer: проблема, действие, срок, кто, формулы"
    )
    model_version: str


class ReactionLabelRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="A comment or message written under the reply")
    reply: str | None = Field(default=None, max_length=20_000, description="The official's reply it reacts to")


class ReactionLabelRead(BaseModel):
    """What the citizen said of the reply: thanks, not fixed, a new problem or other, and the words that decided."""

    label: ReactionLabel
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(description="The rules and words that decided the label, in Russian")
    model_version: str
