"""API models of the curator's queue of held replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api_gateway.incidents.routed import ROUTED_EXAMPLE, RoutedIncident
from api_gateway.schemas import example

HELD_EXAMPLE: dict[str, Any] = {
    "held_reply_id": "3f1c2a9e-7b1d-4c55-9a0e-2f6d8c1b4a77",
    "incident_id": "inc-8f3a",
    "region_code": "64",
    "action": "reply",
    "reply_text": "Ваше обращение передано в ответственную службу и взято на контроль.",
    "author": "off-64-1",
    "author_name": "Чиновник off-64-1",
    "quality": 0.08,
    "threshold": 0.5,
    "reasons": ["формула: передано", "нет: срок"],
    "suggestions": ["укажите срок: дату или число дней"],
    "status": "held",
    "decided_by": None,
    "decision_reason": None,
    "created_at": "2026-12-04T09:15:00Z",
    "decided_at": None,
}


class HeldReplyRead(BaseModel):
    model_config = example(**HELD_EXAMPLE)

    held_reply_id: str
    incident_id: str
    region_code: str
    action: str = Field(description="reply or interim_answer")
    reply_text: str
    author: str = Field(description="The official (or caller) who wrote it")
    author_name: str
    quality: float
    threshold: float
    reasons: list[str]
    suggestions: list[str]
    status: str = Field(description="held, released, returned or superseded (a later reply went out)")
    decided_by: str | None = None
    decision_reason: str | None = None
    created_at: datetime
    decided_at: datetime | None = None


class ReleasedReply(RoutedIncident):
    """The incident after the released reply went out, as routing answers, and the held reply decided."""

    model_config = example(
        **{
            **ROUTED_EXAMPLE,
            "status": "answered",
            "held_reply": {
                **HELD_EXAMPLE,
                "status": "released",
                "decided_by": "key:key_64admin",
                "decision_reason": "Житель просил только подтвердить приём обращения",
                "decided_at": "2026-12-04T10:05:00Z",
            },
        }
    )

    held_reply: HeldReplyRead


class HeldReplyPage(BaseModel):
    model_config = example(items=[HELD_EXAMPLE])

    items: list[HeldReplyRead]


class DecisionCreate(BaseModel):
    model_config = example(reason="Житель просил только подтвердить приём обращения")

    reason: str = Field(min_length=3, max_length=1000, description="Why: it goes into the incident's audit log")
