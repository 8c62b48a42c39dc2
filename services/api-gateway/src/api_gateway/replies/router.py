"""The curator's queue of held replies (issue 14): replies the quality guard held, per region.

The region's curator (a regional admin) lists them with their scores, reasons and suggestions, and
releases one (it goes to routing as the curator's action, the override and its reason in the
incident's audit log) or returns it to its author with a reason. Officials see the ones they wrote;
federal callers every region's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from api_gateway.auth.deps import AUTH_RESPONSES, PrincipalDep
from api_gateway.auth.principal import Role, require_roles
from api_gateway.deps import RoutingDep
from api_gateway.replies import service
from api_gateway.replies.schemas import DecisionCreate, HeldReplyPage, HeldReplyRead, ReleasedReply
from api_gateway.upstream import UPSTREAM_RESPONSES
from incidents_common.app import SessionDep

router = APIRouter(prefix="/v1/held-replies", tags=["incidents"])


@router.get("", response_model=HeldReplyPage, summary="Replies held for the curator in your regions, oldest first")
async def list_held_replies(
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[list[str] | None, Query(description="Region codes (default: all of yours)")] = None,
    status: Annotated[str, Query(pattern="^(held|released|returned|superseded)$")] = "held",
) -> HeldReplyPage:
    require_roles(principal, Role.regional_admin, Role.federal, Role.official)
    return await service.list_held(session, principal=principal, regions=region, status=status)


@router.post(
    "/{held_id}/release",
    summary="Send a held reply anyway (the region's curator): the override and its reason go into the audit log",
    responses={
        200: {"description": "The incident after the reply, as routing returns it, with the held reply"},
        **AUTH_RESPONSES,
        **UPSTREAM_RESPONSES,
    },
)
async def release_held_reply(
    session: SessionDep,
    routing: RoutingDep,
    principal: PrincipalDep,
    held_id: Annotated[str, Path(max_length=36)],
    decision: Annotated[DecisionCreate, Body()],
) -> ReleasedReply:
    require_roles(principal, Role.regional_admin)
    return await service.release(session, routing=routing, principal=principal, held_id=held_id, reason=decision.reason)


@router.post(
    "/{held_id}/return",
    response_model=HeldReplyRead,
    summary="Return a held reply to its author with a reason (the region's curator)",
)
async def return_held_reply(
    session: SessionDep,
    principal: PrincipalDep,
    held_id: Annotated[str, Path(max_length=36)],
    decision: Annotated[DecisionCreate, Body()],
) -> HeldReplyRead:
    require_roles(principal, Role.regional_admin)
    return await service.return_to_author(session, principal=principal, held_id=held_id, reason=decision.reason)
