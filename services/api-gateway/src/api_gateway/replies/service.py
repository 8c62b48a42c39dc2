"""The curator's queue of held replies: list them (per region; officials their own), release one (it goes
to routing as the curator's action, the override and its reason in the incident's audit log) or
return it to its author with a reason."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth.principal import Principal, Role
from api_gateway.incidents.actions import forward_action
from api_gateway.incidents.schemas import ActionCreate
from api_gateway.incidents.service import get_visible
from api_gateway.replies.models import HeldReply
from api_gateway.replies.schemas import HeldReplyPage, HeldReplyRead, ReleasedReply
from api_gateway.upstream import Upstream
from incidents_common.db import utcnow
from incidents_common.events import IncidentAction
from incidents_common.problems import Conflict, Forbidden, NotFound


def to_read(held: HeldReply) -> HeldReplyRead:
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


async def list_held(
    session: AsyncSession, *, principal: Principal, regions: list[str] | None, status: str
) -> HeldReplyPage:
    """The held replies the caller may see, oldest first: a region's curator and federal callers every
    one of their regions, an official those it wrote."""
    query = select(HeldReply).where(col(HeldReply.status) == status)
    visible = principal.visible(regions)
    if visible is not None:
        query = query.where(col(HeldReply.region_code).in_(visible))
    if principal.role is Role.official:
        query = query.where(col(HeldReply.author) == principal.actor)
    rows = (await session.exec(query.order_by(col(HeldReply.created_at)).limit(500))).all()
    return HeldReplyPage(items=[to_read(held) for held in rows])


async def waiting(session: AsyncSession, principal: Principal, held_id: str) -> HeldReply:
    """The held reply, still waiting for a decision, in the caller's regions (404 otherwise; 409 once decided)."""
    held = await session.get(HeldReply, held_id)
    if held is None or not principal.can_see(held.region_code):
        raise NotFound(f"no held reply {held_id}")
    if held.status != "held":
        raise Conflict(f"the reply is {held.status}, not held")
    return held


def _decided(session: AsyncSession, held: HeldReply, status: str, principal: Principal, reason: str) -> None:
    held.status, held.decided_by, held.decision_reason, held.decided_at = status, principal.actor, reason, utcnow()
    session.add(held)


async def release(
    session: AsyncSession, *, routing: Upstream, principal: Principal, held_id: str, reason: str
) -> ReleasedReply:
    """Send the held reply as the curator's action; routing's answer, with the held reply."""
    held = await waiting(session, principal, held_id)
    if held.author == principal.actor:
        # The guard's point is a second pair of eyes: whoever wrote the reply cannot wave it through.
        raise Forbidden("a held reply is released by someone other than its author (another curator of the region)")
    await get_visible(session, principal=principal, incident_id=held.incident_id)
    note = (
        f"ответ {held.author_name} ({held.author}) выпущен куратором вопреки оценке качества "
        f"{held.quality:.2f} < {held.threshold:.2f} ({'; '.join(held.reasons or [])}): {reason}"
    )
    action = ActionCreate(
        action=IncidentAction(held.action),
        reply_text=held.reply_text,
        reply_url=held.reply_url,
        comment=f"{held.comment}; {note}" if held.comment else note,
    )
    answer = await forward_action(routing, held.incident_id, action, principal)
    _decided(session, held, "released", principal, reason)
    return ReleasedReply(**dict(answer), held_reply=to_read(held))


async def return_to_author(session: AsyncSession, *, principal: Principal, held_id: str, reason: str) -> HeldReplyRead:
    held = await waiting(session, principal, held_id)
    _decided(session, held, "returned", principal, reason)
    return to_read(held)
