"""Incidents for portals: list, search, detail, CSV export and actions forwarded to routing."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from api_gateway import service
from api_gateway.auth import Principal, Role
from api_gateway.deps import PrincipalDep, require_roles
from api_gateway.replies import guard_reply, supersede_held
from api_gateway.schemas import (
    ActionCreate,
    ActionName,
    IncidentAudit,
    IncidentDetail,
    IncidentPage,
    ReviewQueue,
    SortField,
    WhoAmI,
)
from api_gateway.upstream import Upstream, UpstreamProblem
from incidents_common.app import SessionDep
from incidents_common.events import IncidentStatus, Urgency
from incidents_common.problems import Forbidden, NotFound
from incidents_common.regions import REGIONS

router = APIRouter(prefix="/v1", tags=["incidents"])

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, expired, forged or revoked credentials"},
    429: {"description": "Rate limit exceeded; see Retry-After"},
}
UPSTREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this"},
    409: {"description": "Routing refused the transition from the current status"},
    503: {"description": "Routing is unavailable"},
}

# Officials act only on incidents assigned to them, and cannot hand them to someone else.
OFFICIAL_ACTIONS = {
    ActionName.take,
    ActionName.interim_answer,
    ActionName.reply,
    ActionName.resolve,
    ActionName.redirect,
}

RegionQ = Annotated[list[str] | None, Query(description="Region codes (ФИАС/ГАР), e.g. 64", examples=[["64"]])]
CityQ = Annotated[
    list[str] | None,
    Query(
        alias="municipality", description="Municipality / city name (case and ё-insensitive)", examples=[["Саратов"]]
    ),
]
CategoryQ = Annotated[list[str] | None, Query(alias="category", examples=[["roads"]])]
StatusQ = Annotated[list[IncidentStatus] | None, Query(alias="status", examples=[["assigned", "in_progress"]])]
UrgencyQ = Annotated[list[Urgency] | None, Query(alias="urgency", examples=[["critical"]])]


def incident_filter(
    region: RegionQ = None,
    municipality: CityQ = None,
    category: CategoryQ = None,
    status: StatusQ = None,
    urgency: UrgencyQ = None,
    assignee: Annotated[
        str | None, Query(description="official_id of the assignee; `me` for the calling official", max_length=64)
    ] = None,
    overdue: Annotated[bool | None, Query(description="Only (true) or no (false) overdue incidents")] = None,
    needs_review: Annotated[
        bool | None,
        Query(description="Only (true) or no (false) incidents awaiting an operator's review (the review queue)"),
    ] = None,
    created_from: Annotated[datetime | None, Query(description="Created at or after (ISO 8601)")] = None,
    created_to: Annotated[datetime | None, Query(description="Created before (ISO 8601)")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=200,
            description="Full-text search in Russian (word forms and ё/е match)",
            examples=["яма дорога"],
        ),
    ] = None,
) -> service.IncidentFilter:
    """The list's and the export's filters: one definition, so they cannot drift apart."""
    return service.IncidentFilter(
        regions=region,
        cities=municipality,
        categories=category,
        statuses=[s.value for s in status] if status else None,
        urgencies=[u.value for u in urgency] if urgency else None,
        assignee=assignee,
        overdue=overdue,
        needs_review=needs_review,
        created_from=_aware(created_from),
        created_to=_aware(created_to),
        q=q,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


FilterDep = Annotated[service.IncidentFilter, Depends(incident_filter)]


def _resolve_me(flt: service.IncidentFilter, principal: Principal) -> service.IncidentFilter:
    """`assignee=me` means the calling official (a caller who is no official matches nothing)."""
    if flt.assignee != "me":
        return flt
    return dataclasses.replace(flt, assignee=principal.official_id or f"{principal.subject} (no official)")


@router.get("/me", response_model=WhoAmI, summary="Who am I: role and regions of the caller", responses=AUTH_RESPONSES)
async def whoami(principal: PrincipalDep) -> WhoAmI:
    return WhoAmI(
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
    flt = _resolve_me(flt, principal)
    rows, next_cursor = await service.list_incidents(
        session, principal=principal, flt=flt, sort=sort.value, cursor=cursor, limit=limit
    )
    now = datetime.now(UTC)
    return IncidentPage(items=[service.to_read(r, now) for r in rows], next_cursor=next_cursor, limit=limit)


@router.get(
    "/review-queue",
    response_model=ReviewQueue,
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
) -> ReviewQueue:
    return await service.review_queue(session, principal=principal, regions=region, limit=limit, offset=offset)


EXPORT_COLUMNS = [
    "incident_id",
    "region_code",
    "region_name",
    "city",
    "category",
    "urgency",
    "status",
    "severity",
    "title",
    "assignee_id",
    "assignee_name",
    "department_name",
    "complainants",
    "total_reach",
    "priority",
    "created_at",
    "first_response_due",
    "first_response_at",
    "final_due",
    "closed_at",
    "overdue",
]


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
    flt = _resolve_me(flt, principal)
    rows, _ = await service.list_incidents(session, principal=principal, flt=flt, sort="-created_at", limit=limit)
    now = datetime.now(UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        values = {
            **row._asdict(),
            "overdue": service.is_overdue(row, now),
            "priority": service.priority_score(row.priority),
        }
        writer.writerow([_csv_value(values.get(c)) for c in EXPORT_COLUMNS])
    data = buffer.getvalue()

    async def body() -> AsyncIterator[bytes]:
        yield data.encode("utf-8-sig")  # the BOM makes Excel read Cyrillic correctly

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "" if value is None else value


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


ACTION_RESULT_EXAMPLE = {
    "incident_id": "inc-8f3a",
    "region_code": "64",
    "status": "in_progress",
    "assignee": {"official_id": "off-64-roads-1", "name": "Петров Иван Сергеевич"},
    "deadlines": {"first_response_due": "2026-11-26T17:15:00Z"},
    "history": [{"action": "take", "actor": "off-64-roads-1", "at": "2026-11-26T10:00:00Z"}],
}


@router.get(
    "/incidents/{incident_id}/audit",
    summary="Check the incident's audit log (every action chained by hash): whether it holds, and where it breaks",
    responses={**AUTH_RESPONSES, **UPSTREAM_RESPONSES},
)
async def check_incident_audit(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    incident_id: Annotated[str, Path(max_length=64)],
) -> IncidentAudit:
    await service.get_visible(session, principal=principal, incident_id=incident_id)
    routing: Upstream = request.app.state.routing
    result = await routing.request("GET", f"/v1/incidents/{quote(incident_id, safe='')}/audit", user=principal.acting())
    return IncidentAudit.model_validate(result)


@router.post(
    "/incidents/{incident_id}/actions",
    summary=(
        "Act on an incident (take, reply, resolve, reject with reason, reassign, reopen, correct the "
        "classification …); forwarded to routing"
    ),
    responses={
        200: {
            "description": "The incident after the action, as routing returns it",
            "content": {"application/json": {"example": ACTION_RESULT_EXAMPLE}},
        },
        **AUTH_RESPONSES,
        **UPSTREAM_RESPONSES,
    },
)
async def act_on_incident(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    incident_id: Annotated[str, Path(max_length=64)],
    action: Annotated[ActionCreate, Body()],
) -> dict[str, Any]:
    incident = await service.get_visible(session, principal=principal, incident_id=incident_id)
    require_roles(principal, Role.regional_admin, Role.official)
    if principal.role is Role.official:
        if incident.assignee_id != principal.official_id:
            raise Forbidden("officials act only on incidents assigned to them")
        if action.action not in OFFICIAL_ACTIONS:
            raise Forbidden(f"officials may not {action.action}")
    routing: Upstream = request.app.state.routing
    user = principal.acting()
    if action.action is ActionName.reassign and action.official_id:
        # The new assignee must work in the incident's region: a regional admin cannot hand a
        # citizen's complaint (and its personal data) to another region's official. Routing checks
        # this too (it is the authority); asking for the official itself cannot be fooled by ids.
        try:
            official = await routing.request("GET", f"/v1/officials/{quote(action.official_id, safe='')}", user=user)
        except UpstreamProblem as exc:
            if exc.status != 404:
                raise
            official = None
        if not isinstance(official, dict) or official.get("region_code") != incident.region_code:
            raise NotFound(f"no official {action.official_id} in region {incident.region_code}")
    override_reason = action.override_reason
    scored: dict[str, Any] | None = None
    if action.action in (ActionName.reply, ActionName.interim_answer):
        scored, note = await guard_reply(
            request, incident=incident, action=action, principal=principal, override_reason=override_reason
        )
        if note:
            action = action.model_copy(update={"comment": f"{action.comment}; {note}" if action.comment else note})
    answer = await forward_action(request, incident_id, action, principal)
    if action.action in (ActionName.reply, ActionName.interim_answer):
        await supersede_held(session, incident_id)
    if scored is not None:
        answer["reply_quality"] = scored
    return answer


async def forward_action(
    request: Request, incident_id: str, action: ActionCreate, principal: Principal
) -> dict[str, Any]:
    """The action sent to routing as the caller (routing records the user named in the service token)."""
    routing: Upstream = request.app.state.routing
    body = action.model_dump(mode="json", exclude_none=True, exclude={"override_reason"})
    path = f"/v1/incidents/{quote(incident_id, safe='')}/actions"
    result = await routing.request("POST", path, json=body, user=principal.acting())
    return result if isinstance(result, dict) else {"result": result}
