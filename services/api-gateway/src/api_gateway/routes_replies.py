"""The curator's queue of held replies (issue 14): replies the quality guard held, per region.

The region's curator (a regional admin) lists them with their scores, reasons and suggestions, and
releases one (it goes to routing as the curator's action, the override and its reason in the
incident's audit log) or returns it to its author with a reason. Officials see the ones they wrote;
federal callers every region's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api_gateway.auth import Role
from api_gateway.deps import PrincipalDep, require_roles
from api_gateway.models import HeldReply
from api_gateway.router import forward_action
from api_gateway.schemas import ActionCreate, ActionName, example
from api_gateway.service import get_visible
from incidents_common.app import SessionDep
from incidents_common.db import utcnow
from incidents_common.problems import Conflict, NotFound

router = APIRouter(prefix="/v1/held-replies", tags=["incidents"])
STATUSES = ("held", "released", "returned", "superseded")


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


class HeldReplyPage(BaseModel):
    model_config = example(items=[HELD_EXAMPLE])

    items: list[HeldReplyRead]


class Decision(BaseModel):
    model_config = example(reason="Житель просил только подтвердить приём обращения")

    reason: str = Field(min_length=3, max_length=1000, description="Why: it goes into the incident's audit log")


def _read(held: HeldReply) -> HeldReplyRead:
    return HeldReplyRead(
        held_reply_id=held.id,
        incident_id=held.incident_id,
        region_code=held.region_code,
        action=held.action,
        reply_text=held.reply_text,
        author=held.author,
        author_name=held.author_name,
        quality=held.quality,
        threshold=held.threshold,
        reasons=list(held.reasons or []),
        suggestions=list(held.suggestions or []),
        status=held.status,
        decided_by=held.decided_by,
        decision_reason=held.decision_reason,
        created_at=held.created_at,
        decided_at=held.decided_at,
    )


@router.get("", response_model=HeldReplyPage, summary="Replies held for the curator in your regions, oldest first")
async def list_held_replies(
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[list[str] | None, Query(description="Region codes (default: all of yours)")] = None,
    status: Annotated[str, Query(pattern="^(held|released|returned|superseded)$")] = "held",
) -> HeldReplyPage:
    require_roles(principal, Role.regional_admin, Role.federal, Role.official)
    query = select(HeldReply).where(col(HeldReply.status) == status)
    regions = principal.visible(region)
    if regions is not None:
        query = query.where(col(HeldReply.region_code).in_(regions))
    if principal.role is Role.official:
        query = query.where(col(HeldReply.author) == principal.actor)
    rows = (await session.exec(query.order_by(col(HeldReply.created_at)).limit(500))).all()
    return HeldReplyPage(items=[_read(held) for held in rows])


async def _held(session: Any, principal: Any, held_id: str) -> HeldReply:
    held = await session.get(HeldReply, held_id)
    if held is None or not principal.can_see(held.region_code):
        raise NotFound(f"no held reply {held_id}")
    if held.status != "held":
        raise Conflict(f"the reply is {held.status}, not held")
    return held  # type: ignore[no-any-return]


RELEASED_EXAMPLE = {
    "incident_id": "inc-8f3a",
    "status": "answered",
    "held_reply": {**HELD_EXAMPLE, "status": "released", "decided_by": "key:key_64admin", "decision_reason": "…"},
}


@router.post(
    "/{held_id}/release",
    summary="Send a held reply anyway (the region's curator): the override and its reason go into the audit log",
    responses={
        200: {
            "description": "The incident after the reply, as routing returns it, with the held reply",
            "content": {"application/json": {"example": RELEASED_EXAMPLE}},
        }
    },
)
async def release_held_reply(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    held_id: Annotated[str, Path(max_length=36)],
    decision: Annotated[Decision, Body()],
) -> dict[str, Any]:
    require_roles(principal, Role.regional_admin)
    held = await _held(session, principal, held_id)
    await get_visible(session, principal=principal, incident_id=held.incident_id)
    note = (
        f"ответ {held.author_name} ({held.author}) выпущен куратором вопреки оценке качества "
        f"{held.quality:.2f} < {held.threshold:.2f} ({'; '.join(held.reasons or [])}): {decision.reason}"
    )
    action = ActionCreate(
        action=ActionName(held.action),
        reply_text=held.reply_text,
        reply_url=held.reply_url,  # type: ignore[arg-type]
        comment=f"{held.comment}; {note}" if held.comment else note,
    )
    answer = await forward_action(request, held.incident_id, action, principal)
    held.status, held.decided_by, held.decision_reason, held.decided_at = (
        "released",
        principal.actor,
        decision.reason,
        utcnow(),
    )
    session.add(held)
    answer["held_reply"] = _read(held).model_dump(mode="json")
    return answer


@router.post(
    "/{held_id}/return",
    response_model=HeldReplyRead,
    summary="Return a held reply to its author with a reason (the region's curator)",
)
async def return_held_reply(
    session: SessionDep,
    principal: PrincipalDep,
    held_id: Annotated[str, Path(max_length=36)],
    decision: Annotated[Decision, Body()],
) -> HeldReplyRead:
    require_roles(principal, Role.regional_admin)
    held = await _held(session, principal, held_id)
    held.status, held.decided_by, held.decision_reason, held.decided_at = (
        "returned",
        principal.actor,
        decision.reason,
        utcnow(),
    )
    session.add(held)
    return _read(held)
