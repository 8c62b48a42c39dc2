"""API models of the gateway (request bodies forbid unknown fields; every model carries an example)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from api_gateway.auth import Role
from incidents_common.events import Priority, ReplyState, Urgency
from incidents_common.regions import REGIONS

_T = "2026-11-26T09:15:00Z"


def example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example of a model, to extend it in a subclass's example."""
    extra: Any = model.model_config.get("json_schema_extra")
    return dict(extra["examples"][0])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------

ASSIGNEE_EXAMPLE = {
    "official_id": "off-64-roads-1",
    "name": "Петров Иван Сергеевич",
    "position": "Начальник отдела дорожного хозяйства",
    "department_id": "dep-64-roads",
    "department_name": "Комитет дорожного хозяйства администрации г. Саратова",
}


class Deadlines(BaseModel):
    first_response_due: datetime | None = None
    final_due: datetime | None = None
    first_response_at: datetime | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    overdue: bool = Field(description="An open incident past its first-response or final deadline")


class ReviewReasonRead(BaseModel):
    """Why the classifier was unsure: the field in a grey zone and the figure that put it there."""

    model_config = example(field="danger", confidence=0.42, detail="возможна угроза жизни: вероятность 0.42")

    field: Literal["danger", "is_incident", "category", "region"]
    confidence: float
    detail: str


PRIORITY_EXAMPLE = {
    "score": 86.4,
    "parts": [
        {"name": "urgency", "value": 40, "factor": 40, "explanation": "Urgency high gives the base of 40."},
        {
            "name": "reach",
            "value": 530.0,
            "factor": 1.8,
            "explanation": "Reach of 530 (views + 10×reposts + 3×comments + likes of 3 posts, plus 0.1×followers of "
            "3 authors) gives 1 + log10(1 + 530/100) = 1.80.",
        },
        {
            "name": "velocity",
            "value": 2,
            "factor": 1.5,
            "explanation": "2 authors posted in the hour up to the latest post (2026-11-26 09:10 UTC): "
            "1 + 0.5×log2(2) = 1.50.",
        },
        {
            "name": "coordination",
            "value": 0.25,
            "factor": 0.8,
            "explanation": "1 of 4 posts (0.25) are copies of one text from accounts with under 50 followers within "
            "30 minutes and count for neither reach nor velocity: 1 − 0.8×0.25 = 0.80.",
        },
    ],
    "formula": "40 × 1.80 × 1.50 × 0.80 = 86.4",
}


class IncidentFields(BaseModel):
    """What the list and the detail show of an incident alike."""

    model_config = example(
        incident_id="inc-8f3a",
        region_code="64",
        region_name="Саратовская область",
        city="Саратов",
        category="roads",
        urgency="high",
        status="assigned",
        severity=3,
        title="Яма на улице Чернышевского",
        summary="Жители сообщают о глубокой яме на проезжей части у дома 120.",
        assignee=ASSIGNEE_EXAMPLE,
        complainants=4,
        total_reach=1520,
        escalation_level=0,
        post_ids=["post-1", "post-2"],
        deadlines={"first_response_due": "2026-11-26T17:15:00Z", "final_due": "2026-12-06T09:15:00Z", "overdue": False},
        created_at=_T,
        updated_at=_T,
    )

    incident_id: str
    region_code: str
    region_name: str
    city: str | None
    category: str
    urgency: str
    status: str
    severity: int
    title: str
    summary: str
    assignee: dict[str, Any] | None
    complainants: int
    total_reach: int
    escalation_level: int
    post_ids: list[str]
    deadlines: Deadlines
    created_at: datetime
    updated_at: datetime
    needs_review: bool = Field(
        default=False, description="Awaits an operator's decision on its classification (the review queue)"
    )
    possibly_critical: bool = Field(
        default=False,
        description="A danger reason is under review: routing runs the critical clock until an operator decides",
    )
    danger: float | None = Field(default=None, description="The highest danger probability among its posts")
    review_reasons: list[ReviewReasonRead] = Field(default_factory=list)
    satisfaction: str | None = Field(
        default=None,
        description="The complainant's reaction to the published reply: satisfied, not_satisfied or no_reaction",
    )
    reply: ReplyState | None = Field(
        default=None,
        description=(
            "The latest reply or interim answer and its publishing where the complaint was: pending, "
            "published (with the link), failed (with the reason: the clocks run on), unconfirmed or recorded only"
        ),
    )


class IncidentRead(IncidentFields):
    model_config = example(**example_of(IncidentFields), priority=PRIORITY_EXAMPLE["score"])

    priority: float | None = Field(
        default=None,
        description="Its priority score in an operator's queue (sort=-priority): higher first; the detail shows "
        "its parts. Null until routing has scored it",
    )


class PostRead(BaseModel):
    post_id: str
    version: int
    source_type: str
    external_id: str
    url: str | None
    author: dict[str, Any] | None
    text: str
    published_at: datetime
    reach: dict[str, Any] | None
    classification: dict[str, Any] | None = Field(
        description="The classifier's result: each label with confidence and the evidence that decided it"
    )


class HistoryEntry(BaseModel):
    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    actor: str | None
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] | None


class IncidentDetail(IncidentFields):
    model_config = example(
        **example_of(IncidentFields),
        priority=PRIORITY_EXAMPLE,
        assignment_explanation="Правило «Дороги, г. Саратов» → комитет дорожного хозяйства; дежурный по очереди",
        posts=[
            {
                "post_id": "post-1",
                "version": 1,
                "source_type": "vk",
                "external_id": "-123_456",
                "url": "https://vk.com/wall-123_456",
                "author": {"name": "Анна К."},
                "text": "На Чернышевского у дома 120 огромная яма, уже две машины пробили колёса!",
                "published_at": _T,
                "reach": {"likes": 40, "views": 1500},
                "classification": {
                    "model_version": "keywords-1",
                    "is_incident": True,
                    "category": {"label": "roads", "confidence": 0.92, "evidence": ["яма", "колёса"]},
                },
            }
        ],
        history=[
            {
                "seq": 1,
                "event_id": "e-1",
                "type": "incident.created",
                "occurred_at": _T,
                "actor": None,
                "from_status": None,
                "to_status": "new",
                "detail": {"post_id": "post-1"},
            }
        ],
    )

    priority: Priority | None = Field(
        default=None,
        description="Its priority in an operator's queue: the score, each part (urgency, reach, velocity, "
        "coordination) with what it measured and contributes, and the formula with the numbers put in",
    )
    assignment_explanation: str | None
    posts: list[PostRead]
    history: list[HistoryEntry]


class IncidentAudit(BaseModel):
    """Routing's verdict on the incident's audit log: every action (assignment, replies with their
    text, status changes, corrections) is an entry chained by SHA-256 to the one before, so an entry
    rewritten or removed in the database shows here. `broken_at`: the first entry that does not hold."""

    model_config = example(
        incident_id="inc-64-0001",
        entries=6,
        ok=False,
        head="9f2c…",
        broken_at=4,
        reason="its content does not match its hash: the entry was changed",
    )

    incident_id: str
    entries: int
    ok: bool
    head: str | None = Field(default=None, description="The hash of the last entry")
    broken_at: int | None = Field(default=None, description="The seq of the first entry that does not hold")
    reason: str | None = None


class IncidentPage(BaseModel):
    model_config = example(
        items=[example_of(IncidentRead)],
        next_cursor="WyItY3JlYXRlZF9hdCIsIjIwMjYtMTEtMjZUMDk6MTU6MDArMDA6MDAiLCJpbmMtOGYzYSJd",
        limit=50,
    )

    items: list[IncidentRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    limit: int


# ---------------------------------------------------------------------------------------------
# Surge alerts
# ---------------------------------------------------------------------------------------------

ALERT_EXAMPLE: dict[str, Any] = {
    "alert_id": "2f0c7c1e-5d1b-5b9e-9a51-3c8e1f0b6d42",
    "region_code": "37",
    "region_name": "Ивановская область",
    "city": "Кинешма",
    "category": "housing_utilities",
    "window_start": "2026-11-26T08:30:00Z",
    "window_end": "2026-11-26T09:30:00Z",
    "count": 52,
    "baseline": 1.3,
    "threshold": 10,
    "score": 2.9e-63,
    "statistic": "poisson_upper_tail",
    "explanation": (
        "52 posts about housing_utilities in Кинешма in the last 60 min; baseline 1.3 per 60 min; "
        "P(≥52 | Poisson(1.3)) < 1e-9"
    ),
    "incident_ids": ["inc-8f3a", "inc-8f3b"],
    "post_ids": ["post-1", "post-2"],
    "raised_at": _T,
}


class AlertRead(BaseModel):
    """A category flaring up in one place: far more complaints in the window than its history makes likely."""

    model_config = example(**ALERT_EXAMPLE)

    alert_id: str
    region_code: str
    region_name: str
    city: str | None = Field(description="The town; null: the region as a whole (complaints that named no town)")
    category: str
    window_start: datetime
    window_end: datetime
    count: int = Field(description="Complaints in the window")
    baseline: float = Field(description="Complaints expected per window from the place's history")
    threshold: int = Field(description="The smallest count that would have raised the alert")
    score: float = Field(description="The statistic's value: for poisson_upper_tail, P(X ≥ count); smaller is rarer")
    statistic: str
    explanation: str
    incident_ids: list[str] = Field(description="The incidents that gathered the window's complaints")
    post_ids: list[str] = Field(description="Complaints of the window (at most 50)")
    raised_at: datetime


class AlertPage(BaseModel):
    model_config = example(
        items=[ALERT_EXAMPLE],
        next_cursor="WyIyMDI2LTExLTI2VDA5OjE1OjAwKzAwOjAwIiwiMmYwYzdjMWUiXQ",
        limit=50,
    )

    items: list[AlertRead] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    limit: int


class ReviewRegion(BaseModel):
    model_config = example(region_code="64", region_name="Саратовская область", awaiting_review=3, possibly_critical=1)

    region_code: str
    region_name: str
    awaiting_review: int
    possibly_critical: int = Field(description="Of those awaiting review, the ones on the critical clock")


class ReviewQueue(BaseModel):
    model_config = example(
        regions=[example_of(ReviewRegion)],
        items=[
            {
                **example_of(IncidentRead),
                "needs_review": True,
                "possibly_critical": True,
                "danger": 0.42,
                "review_reasons": [example_of(ReviewReasonRead)],
            }
        ],
        total=3,
        limit=50,
        offset=0,
    )

    regions: list[ReviewRegion] = Field(
        description="Per region you may see (asked for): incidents awaiting review; regions without any are left "
        "out for callers of every region"
    )
    items: list[IncidentRead] = Field(description="Possibly critical first, then by danger, then the longest waiting")
    total: int
    limit: int
    offset: int


class SortField(StrEnum):
    created_at = "created_at"
    created_at_desc = "-created_at"
    updated_at = "updated_at"
    updated_at_desc = "-updated_at"
    severity = "severity"
    severity_desc = "-severity"
    total_reach = "total_reach"
    total_reach_desc = "-total_reach"
    complainants = "complainants"
    complainants_desc = "-complainants"
    priority = "priority"
    priority_desc = "-priority"


class ActionName(StrEnum):
    take = "take"
    interim_answer = "interim_answer"
    reply = "reply"
    resolve = "resolve"
    close = "close"
    reject = "reject"
    reopen = "reopen"
    reassign = "reassign"
    redirect = "redirect"
    correct = "correct"


CORRECTED_FIELDS = ("is_incident", "category", "urgency", "region_code")


class ActionCreate(Strict):
    """An action on an incident; the gateway fills `actor` from the caller's identity."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"action": "take", "comment": "Бригада выедет сегодня"},
                {
                    "action": "reply",
                    "reply_text": "Ремонт ямы запланирован на 28 ноября.",
                    "reply_url": "https://vk.com/wall-123_456?reply=789",
                },
                {"action": "reject", "reason": "Дорога находится в ведении соседнего муниципалитета"},
                {"action": "reassign", "official_id": "off-64-roads-2", "comment": "Отпуск исполнителя"},
                {"action": "correct", "urgency": "critical", "comment": "Дети на льду: угроза жизни подтверждена"},
                {"action": "correct", "is_incident": False, "comment": "Стихотворение, а не жалоба"},
            ]
        },
    )

    action: ActionName
    comment: str | None = Field(default=None, max_length=5000)
    reason: str | None = Field(default=None, max_length=1000)
    reply_text: str | None = Field(default=None, max_length=20000)
    reply_url: AnyHttpUrl | None = None
    override_reason: str | None = Field(
        default=None,
        max_length=1000,
        description="reply / interim_answer below the region's quality threshold: the curator sends it anyway, "
        "for this reason (kept in the audit log)",
    )
    official_id: str | None = Field(default=None, max_length=100)
    target_department_id: str | None = Field(default=None, max_length=100)
    target_note: str | None = Field(default=None, max_length=1000)
    # correct: the operator's decision on the classification; each stated field becomes classifier
    # feedback (a value equal to the current one confirms it).
    is_incident: bool | None = Field(default=None, description="correct: false rejects it as not a complaint")
    category: str | None = Field(default=None, max_length=50, pattern=r"^[a-z][a-z0-9_]*$", description="correct")
    urgency: Urgency | None = Field(default=None, description="correct: its SLA policy applies from the creation")
    region_code: str | None = Field(default=None, pattern=r"^\d{2}$", description="correct: ФИАС/ГАР code")

    @model_validator(mode="after")
    def _required_fields(self) -> ActionCreate:
        if self.action in (ActionName.reject, ActionName.redirect) and not self.reason:
            raise ValueError(f"{self.action} needs a reason")
        if self.action is ActionName.reassign and not self.official_id:
            raise ValueError("reassign needs official_id")
        if self.action in (ActionName.reply, ActionName.interim_answer) and not self.reply_text:
            raise ValueError(f"{self.action} needs reply_text")
        if self.action is ActionName.redirect and not (self.target_department_id or self.target_note):
            raise ValueError("redirect needs target_department_id or target_note (where the incident belongs)")
        stated = [name for name in CORRECTED_FIELDS if getattr(self, name) is not None]
        if self.action is ActionName.correct and not stated:
            raise ValueError("correct needs at least one of: " + ", ".join(CORRECTED_FIELDS))
        if self.action is not ActionName.correct and stated:
            raise ValueError(f"{', '.join(stated)}: only the correct action takes classification fields")
        if self.region_code is not None and self.region_code not in REGIONS:
            raise ValueError(f"unknown region code {self.region_code!r}")
        return self


# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------


class TokenResponse(BaseModel):
    model_config = example(access_token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", token_type="Bearer", expires_in=900)  # noqa: S106 - an OpenAPI example, not a secret

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth2 token type name
    expires_in: int
    scope: str | None = None


class CredentialCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"name": "Портал ЦУР Саратовской области", "role": "regional_admin", "regions": ["64"]}]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    role: Role
    regions: list[str] = Field(default_factory=list, max_length=100)
    official_id: str | None = Field(default=None, max_length=64)


class ClientRead(BaseModel):
    model_config = example(
        client_id="cl_1a2b3c4d5e6f7a8b",
        name="Портал ЦУР Саратовской области",
        role="regional_admin",
        regions=["64"],
        official_id=None,
        active=True,
        created_at=_T,
    )

    client_id: str
    name: str
    role: Role
    regions: list[str] | None
    official_id: str | None
    active: bool
    created_at: datetime


class ClientCreated(ClientRead):
    model_config = example(
        **example_of(ClientRead),
        client_secret="s3cr3t-shown-only-once",  # noqa: S106 - an OpenAPI example, not a secret
    )

    client_secret: str = Field(description="Shown once; only its hash is stored")


class KeyRead(BaseModel):
    model_config = example(
        key_id="key_0a1b2c3d4e5f",
        name="Мониторинг ЦУР 64",
        role="integration",
        regions=["64"],
        official_id=None,
        revoked=False,
        created_at=_T,
    )

    key_id: str
    name: str
    role: Role
    regions: list[str] | None
    official_id: str | None
    revoked: bool
    created_at: datetime


class KeyCreated(KeyRead):
    model_config = example(
        **example_of(KeyRead),
        api_key="gwk_shown-only-once",
    )

    api_key: str = Field(description="Shown once; only its SHA-256 is stored")


class WhoAmI(BaseModel):
    model_config = example(subject="key:key_0a1b2c3d4e5f", name="Мониторинг ЦУР 64", role="integration", regions=["64"])

    subject: str
    name: str
    role: Role
    regions: list[str] | None = Field(description="null means every region")
    official_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


class WebhookCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://portal64.example/hooks/incidents",
                    "secret": "a-long-shared-secret-for-hmac",
                    "regions": ["64"],
                    "event_types": ["incident.created", "incident.status_changed"],
                }
            ]
        },
    )

    url: AnyHttpUrl
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; generated and shown once when omitted"
    )
    regions: list[str] = Field(default_factory=list, description="Narrow to these of your regions; empty = all yours")
    event_types: list[str] = Field(
        default_factory=list, description="e.g. incident.created, alert.surge; empty = every type"
    )


class WebhookRead(BaseModel):
    model_config = example(
        webhook_id="wh_1a2b3c4d",
        url="https://portal64.example/hooks/incidents",
        regions=["64"],
        event_types=["incident.created"],
        active=True,
        created_at=_T,
    )

    webhook_id: str
    url: str
    regions: list[str] | None
    event_types: list[str] | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookRead):
    model_config = example(
        **example_of(WebhookRead),
        secret="kq3Vb0yH6l2mX1sZ8rT4nC7wA9eD5fG0hJ2kL4pQ6sU",  # noqa: S106 - an OpenAPI example, not a secret
    )

    secret: str | None = Field(
        description="The HMAC key the gateway generated, shown only here; null when you sent your own (never echoed)"
    )


class DeliveryRead(BaseModel):
    model_config = example(
        id=17,
        seq=120,
        event_id="e-9c1",
        status="delivered",
        attempts=2,
        last_status_code=200,
        last_error=None,
        next_attempt_at=_T,
        created_at=_T,
        delivered_at=_T,
    )

    id: int
    seq: int
    event_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
