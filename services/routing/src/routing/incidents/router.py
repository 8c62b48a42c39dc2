"""Incident endpoints: list, detail, and the actions officials take (the gateway contract).

Reads are limited to the caller's regions. Actions: the operator; a regional admin in its regions;
an official on incidents assigned to it, and only routing.access.OFFICIAL_ACTIONS. The actor in the
audit log is the verified caller, never a body field.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from incidents_common.app import SessionDep
from incidents_common.events import IncidentStatus
from routing.access import GUARDED, AccessDep
from routing.deps import SettingsDep
from routing.errors import UnknownIncident
from routing.incidents import audit, lifecycle, queries, unplaced
from routing.incidents.models import Incident
from routing.incidents.schemas import (
    ActionRequest,
    AuditChainRead,
    AuditRootRead,
    DismissRequest,
    IncidentDetail,
    IncidentPage,
    PlaceRequest,
    UnplacedPage,
    UnplacedRead,
)

router = APIRouter(tags=["incidents"], dependencies=GUARDED)

ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not take this action, or the incident is not assigned to you (problem+json)"},
    404: {"description": "No such incident in your regions (problem+json)"},
    409: {"description": "Transition not allowed from the current status (problem+json)"},
}


@router.get("/v1/incidents", summary="Incidents of your regions, newest first")
async def list_incidents(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$", description="Another region: empty page")] = None,
    category: str | None = None,
    status: IncidentStatus | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> IncidentPage:
    return await queries.list_incidents(
        session,
        region=region,
        category=category,
        status=status.value if status else None,
        assignee=assignee,
        limit=limit,
        offset=offset,
        regions=access.regions,
    )


@router.get("/v1/incidents/{incident_id}", summary="An incident with posts, explanation, deadlines and history")
async def get_incident(
    session: SessionDep, access: AccessDep, settings: SettingsDep, incident_id: str
) -> IncidentDetail:
    return await queries.incident_detail(session, incident_id=incident_id, settings=settings, regions=access.regions)


@router.get(
    "/v1/incidents/{incident_id}/audit",
    responses={404: ACTION_RESPONSES[404]},
    summary="Check the incident's audit log: every entry chained by hash to the one before",
)
async def check_audit(session: SessionDep, access: AccessDep, incident_id: str) -> AuditChainRead:
    incident = await queries.get_incident(session, incident_id=incident_id)
    if access.regions is not None and incident.region_code not in access.regions:
        raise UnknownIncident(f"no incident {incident_id!r}")  # exactly like a missing one
    check = await audit.check_incident(session, incident_id)
    assert check is not None  # the incident exists
    return AuditChainRead(
        incident_id=check.incident_id,
        entries=check.entries,
        ok=check.ok,
        head=check.head,
        broken_at=check.broken_at,
        reason=check.reason,
    )


@router.get("/v1/audit/roots", summary="Daily roots of the audit log of your regions, checked against the entries now")
async def audit_roots(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    day: date | None = None,
) -> list[AuditRootRead]:
    checks = await audit.check_roots(
        session, region=region, day=day, regions=sorted(access.regions) if access.regions is not None else None
    )
    return [
        AuditRootRead(
            region_code=c.region_code, day=c.day, root=c.stored, recomputed=c.recomputed, entries=c.entries, ok=c.ok
        )
        for c in checks
    ]


@router.post(
    "/v1/incidents/{incident_id}/actions",
    responses=ACTION_RESPONSES,
    summary="Take an action on an incident (recorded as the caller's)",
)
async def act(
    session: SessionDep, access: AccessDep, settings: SettingsDep, incident_id: str, body: ActionRequest
) -> IncidentDetail:
    access.require_incident_actor(body.action)

    def authorize(incident: Incident) -> None:
        access.check_incident(incident.region_code, incident.assignee_id, incident_id=incident.id)

    await lifecycle.perform_action(
        session, incident_id=incident_id, request=body, actor=access.actor, settings=settings, authorize=authorize
    )
    await session.flush()
    return await queries.incident_detail(session, incident_id=incident_id, settings=settings)


UNPLACED_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not decide on posts (only the operator, federal users and regional admins)"},
    404: {"description": "No such post awaiting a decision in your regions (problem+json)"},
    409: {"description": "The post was decided already (problem+json)"},
}


@router.get(
    "/v1/unplaced-posts",
    summary="Posts a person should place: complaints without a region, posts the classifier doubted",
)
async def list_unplaced_posts(
    session: SessionDep,
    access: AccessDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    decided: Annotated[bool, Query(description="true: the decided ones, newest decisions last")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> UnplacedPage:
    return await unplaced.list_unplaced(
        session, regions=access.regions, region=region, decided=decided, limit=limit, offset=offset
    )


@router.post(
    "/v1/unplaced-posts/{post_id}/place",
    responses=UNPLACED_RESPONSES,
    summary="Route the post as a complaint of a region (an incident is opened or joined as for any post)",
)
async def place_unplaced_post(
    session: SessionDep, access: AccessDep, settings: SettingsDep, post_id: str, body: PlaceRequest
) -> UnplacedRead:
    access.require_post_placer(body.region_code)
    return await unplaced.place(session, post_id, body, actor=access.actor, can_see=access.can_see, settings=settings)


@router.post(
    "/v1/unplaced-posts/{post_id}/dismiss",
    responses=UNPLACED_RESPONSES,
    summary="Not a complaint (classifier feedback), or nothing anyone can act on: recorded with who decided",
)
async def dismiss_unplaced_post(
    session: SessionDep, access: AccessDep, post_id: str, body: DismissRequest
) -> UnplacedRead:
    access.require_post_placer(None)
    return await unplaced.dismiss(session, post_id, body, actor=access.actor, can_see=access.can_see)
