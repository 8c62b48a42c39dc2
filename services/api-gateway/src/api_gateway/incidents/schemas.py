"""API models of incidents: the list, the detail, the review queue and the actions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from api_gateway.schemas import EXAMPLE_TIME, Strict, example, example_of
from incidents_common.categories import CategoryName
from incidents_common.events import CORRECTED_FIELDS, IncidentAction, Priority, ReplyState, Urgency
from incidents_common.regions import REGIONS

ASSIGNEE_EXAMPLE = {
    "official_id": "off-64-roads-1",
    "name": "Петров Иван Сергеевич",
    "position": "Начальник отдела дорожного хозяйства",
    "department_id": "dep-64-roads",
    "department_name": "Комитет дорожного хозяйства администрации г. Саратова",
}


class DeadlinesRead(BaseModel):
    first_response_due: datetime | None = None
    final_due: datetime | None = None
    first_response_at: datetime | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    policy: str | None = Field(
        default=None, description="The SLA policy that set these deadlines, by name (routing's SLA policies)"
    )
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
        {"name": "urgency", "value": 40, "factor": 40, "explanation": "Срочность «высокая»: базовое значение 40."},
        {
            "name": "reach",
            "value": 530.0,
            "factor": 1.8,
            "explanation": "Охват 530: просмотры + 10×репосты + 3×комментарии + лайки (3 сообщения) + "
            "0.1×подписчики (3 автора); 1 + log10(1 + 530/100) = 1.80.",
        },
        {
            "name": "velocity",
            "value": 2,
            "factor": 1.5,
            "explanation": "За час до последнего сообщения (26.11.2026 09:10 UTC) — 2 автора: 1 + 0.5×log2(2) = 1.50.",
        },
        {
            "name": "coordination",
            "value": 0.25,
            "factor": 0.8,
            "explanation": "1 из 4 сообщений (0.25) — копии одного текста с аккаунтов, у которых меньше 50 "
            "подписчиков, опубликованные в пределах 30 минут; они не учитываются ни в охвате, ни в скорости: "
            "1 − 0.8×0.25 = 0.80.",
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
        deadlines={
            "first_response_due": "2026-11-26T17:15:00Z",
            "final_due": "2026-12-06T09:15:00Z",
            "policy": "Дороги Саратовской области",
            "overdue": False,
        },
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
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
    deadlines: DeadlinesRead
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


class HistoryEntryRead(BaseModel):
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
        assignment_explanation=(
            "Правило 12: Саратовская область, категория «Дороги», населённый пункт Саратов → комитет дорожного "
            "хозяйства; наименее загружен: Иванов И. И., открытых инцидентов: 3"
        ),
        posts=[
            {
                "post_id": "post-1",
                "version": 1,
                "source_type": "vk",
                "external_id": "-123_456",
                "url": "https://vk.com/wall-123_456",
                "author": {"name": "Анна К."},
                "text": "На Чернышевского у дома 120 огромная яма, уже две машины пробили колёса!",
                "published_at": EXAMPLE_TIME,
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
                "occurred_at": EXAMPLE_TIME,
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
    history: list[HistoryEntryRead]


class IncidentAuditRead(BaseModel):
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


class ReviewRegionRead(BaseModel):
    model_config = example(region_code="64", region_name="Саратовская область", awaiting_review=3, possibly_critical=1)

    region_code: str
    region_name: str
    awaiting_review: int
    possibly_critical: int = Field(description="Of those awaiting review, the ones on the critical clock")


class ReviewQueuePage(BaseModel):
    model_config = example(
        regions=[example_of(ReviewRegionRead)],
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

    regions: list[ReviewRegionRead] = Field(
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

    action: IncidentAction
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
    category: CategoryName | None = Field(default=None, description="correct")
    urgency: Urgency | None = Field(default=None, description="correct: its SLA policy applies from the creation")
    region_code: str | None = Field(default=None, pattern=r"^\d{2}$", description="correct: ФИАС/ГАР code")

    @model_validator(mode="after")
    def _required_fields(self) -> ActionCreate:
        if self.action in (IncidentAction.reject, IncidentAction.redirect) and not self.reason:
            raise ValueError(f"{self.action} needs a reason")
        if self.action is IncidentAction.reassign and not self.official_id:
            raise ValueError("reassign needs official_id")
        if self.action in (IncidentAction.reply, IncidentAction.interim_answer) and not self.reply_text:
            raise ValueError(f"{self.action} needs reply_text")
        if self.action is IncidentAction.redirect and not (self.target_department_id or self.target_note):
            raise ValueError("redirect needs target_department_id or target_note (where the incident belongs)")
        stated = [name for name in CORRECTED_FIELDS if getattr(self, name) is not None]
        if self.action is IncidentAction.correct and not stated:
            raise ValueError("correct needs at least one of: " + ", ".join(CORRECTED_FIELDS))
        if self.action is not IncidentAction.correct and stated:
            raise ValueError(f"{', '.join(stated)}: only the correct action takes classification fields")
        if self.region_code is not None and self.region_code not in REGIONS:
            raise ValueError(f"unknown region code {self.region_code!r}")
        return self
