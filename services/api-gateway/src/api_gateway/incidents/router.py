"""Incidents for portals: list, search, detail, CSV export, the review queue and actions forwarded to routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from api_gateway.auth.deps import AUTH_RESPONSES, PrincipalDep
from api_gateway.auth.schemas import PrincipalRead
from api_gateway.deps import RoutingDep
from api_gateway.incidents import actions, service, unplaced
from api_gateway.incidents.export import EXPORT_COLUMNS, incidents_csv
from api_gateway.incidents.params import FilterDep
from api_gateway.incidents.routed import RoutedIncident
from api_gateway.incidents.schemas import (
    ActionCreate,
    IncidentAuditRead,
    IncidentDetail,
    IncidentPage,
    ReviewQueuePage,
    SortField,
)
from api_gateway.replies.guard import ReplyGuardDep
from api_gateway.upstream import UPSTREAM_RESPONSES
from incidents_common.app import SessionDep
from incidents_common.regions import REGIONS

router = APIRouter(prefix="/v1", tags=["incidents"])


@router.get(
    "/me", response_model=PrincipalRead, summary="Who am I: role and regions of the caller", responses=AUTH_RESPONSES
)
async def whoami(principal: PrincipalDep) -> PrincipalRead:
    return PrincipalRead(
        subject=principal.subject,
        name=principal.name,
        role=principal.role,
        regions=sorted(principal.regions) if principal.regions is not None else None,
        official_id=principal.official_id,
    )


@router.get(
    "/regions",
    summary="The regions you may see: ФИАС/ГАР code, official name, time zone",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [{"code": "64", "name": "Саратовская область", "timezone": "Europe/Saratov"}]
                }
            }
        },
        **AUTH_RESPONSES,
    },
)
async def list_regions(principal: PrincipalDep) -> list[dict[str, str]]:
    return [
        {"code": r.code, "name": r.name, "timezone": r.timezone}
        for code, r in sorted(REGIONS.items())
        if principal.can_see(code)
    ]


@router.get(
    "/incidents",
    response_model=IncidentPage,
    summary="List and search incidents in your regions",
    responses=AUTH_RESPONSES,
)
async def list_incidents(
    session: SessionDep,
    principal: PrincipalDep,
    flt: FilterDep,
    sort: Annotated[
        SortField, Query(description="Field to sort by; '-' prefix for descending")
    ] = SortField.created_at_desc,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentPage:
    rows, next_cursor = await service.list_incidents(
        session, principal=principal, flt=flt, sort=sort.value, cursor=cursor, limit=limit
    )
    now = datetime.now(UTC)
    return IncidentPage(items=[service.to_read(r, now) for r in rows], next_cursor=next_cursor, limit=limit)


@router.get(
    "/review-queue",
    response_model=ReviewQueuePage,
    summary="Incidents awaiting an operator's decision on their classification, per region you may see",
    description=(
        "The classifier was unsure (a danger probability in its grey zone, or low confidence in is_incident, "
        "category or region): each incident lists its reasons. Possibly-critical incidents come first: routing "
        "runs them on the critical clock until an operator decides with the `correct` action "
        "(POST /v1/incidents/{incident_id}/actions), which also becomes feedback for the classifier."
    ),
    responses=AUTH_RESPONSES,
)
async def review_queue(
    session: SessionDep,
    principal: PrincipalDep,
    region: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^\d{2}$")]] | None,
        Query(description="Region codes (ФИАС/ГАР), e.g. 64; default: every region you may see", examples=[["64"]]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> ReviewQueuePage:
    return await service.review_queue(session, principal=principal, regions=region, limit=limit, offset=offset)


@router.get(
    "/review-queue/posts",
    response_model=unplaced.UnplacedPostPage,
    summary="Posts awaiting a person: complaints no region was found for, posts the classifier doubted",
    description=(
        "Routing could not make these incidents on its own and keeps them instead of dropping them: a "
        "complaint that names no place (only federal users see those, to place them in a region) and a post "
        "the classifier was unsure was a complaint (its region's admins see it). Oldest first; "
        "`decided=true` lists the decided ones. Place one with POST …/{post_id}/place, dismiss it with "
        "POST …/{post_id}/dismiss."
    ),
    responses={**AUTH_RESPONSES, **UPSTREAM_RESPONSES},
)
async def unplaced_posts(
    routing: RoutingDep,
    principal: PrincipalDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$", examples=["64"])] = None,
    decided: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> unplaced.UnplacedPostPage:
    return await unplaced.list_posts(routing, principal, region=region, decided=decided, limit=limit, offset=offset)


@router.post(
    "/review-queue/posts/{post_id}/place",
    response_model=unplaced.UnplacedPostRead,
    summary="Route a waiting post as a complaint of a region (an incident opens or is joined); federal, regional admin",
    responses={**AUTH_RESPONSES, **UPSTREAM_RESPONSES},
)
async def place_unplaced_post(
    routing: RoutingDep,
    principal: PrincipalDep,
    post_id: Annotated[str, Path(max_length=100)],
    body: unplaced.PlaceCreate,
) -> unplaced.UnplacedPostRead:
    return await unplaced.place(routing, principal, post_id, body)


@router.post(
    "/review-queue/posts/{post_id}/dismiss",
    response_model=unplaced.UnplacedPostRead,
    summary="Dismiss a waiting post (not a complaint, nothing to act on); federal or regional admin",
    description=(
        "`not_a_complaint: true` says the post is not a complaint at all: routing tells the classifier, which "
        "learns it as a negative example. Without it the post is a complaint nobody can act on, and the "
        "classifier learns nothing."
    ),
    responses={**AUTH_RESPONSES, **UPSTREAM_RESPONSES},
)
async def dismiss_unplaced_post(
    routing: RoutingDep,
    principal: PrincipalDep,
    post_id: Annotated[str, Path(max_length=100)],
    body: unplaced.DismissCreate,
) -> unplaced.UnplacedPostRead:
    return await unplaced.dismiss(routing, principal, post_id, body)


@router.get(
    "/incidents/export.csv",
    summary="Export incidents in your regions as CSV (same filters as the list)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(EXPORT_COLUMNS) + "\r\ninc-8f3a,64,Саратовская область,…"}}},
        **AUTH_RESPONSES,
    },
)
async def export_incidents(
    session: SessionDep,
    principal: PrincipalDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> StreamingResponse:
    rows, _ = await service.list_incidents(session, principal=principal, flt=flt, sort="-created_at", limit=limit)
    data = incidents_csv(rows)

    async def body() -> AsyncIterator[bytes]:
        yield data

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    summary="An incident with its posts, classification evidence, assignment explanation, deadlines, history",
    responses={**AUTH_RESPONSES, 404: {"description": "No such incident in your regions"}},
)
async def get_incident(
    session: SessionDep,
    principal: PrincipalDep,
    incident_id: Annotated[str, Path(max_length=64, examples=["inc-8f3a"])],
) -> IncidentDetail:
    return await service.incident_detail(session, principal=principal, incident_id=incident_id)


@router.get(
    "/incidents/{incident_id}/audit",
    summary="Check the incident's audit log (every action chained by hash): whether it holds, and where it breaks",
    responses={**AUTH_RESPONSES, **UPSTREAM_RESPONSES},
)
async def check_incident_audit(
    session: SessionDep,
    routing: RoutingDep,
    principal: PrincipalDep,
    incident_id: Annotated[str, Path(max_length=64)],
) -> IncidentAuditRead:
    return await actions.audit(session, routing=routing, principal=principal, incident_id=incident_id)


@router.post(
    "/incidents/{incident_id}/actions",
    summary=(
        "Act on an incident (take, reply, resolve, reject with reason, reassign, reopen, correct the "
        "classification …); forwarded to routing"
    ),
    responses={
        200: {"description": "The incident after the action, as routing returns it"},
        **AUTH_RESPONSES,
        **UPSTREAM_RESPONSES,
    },
)
async def act_on_incident(
    session: SessionDep,
    routing: RoutingDep,
    guard: ReplyGuardDep,
    principal: PrincipalDep,
    incident_id: Annotated[str, Path(max_length=64)],
    action: Annotated[ActionCreate, Body()],
) -> RoutedIncident:
    return await actions.act(
        session, routing=routing, guard=guard, principal=principal, incident_id=incident_id, action=action
    )
