"""Incident endpoints: list, detail, and the actions officials take (the gateway contract)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from incidents_common.app import SessionDep
from incidents_common.events import IncidentStatus
from routing.incidents import service
from routing.incidents.schemas import ActionRequest, IncidentPage, IncidentRead

router = APIRouter(tags=["incidents"])

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Transition not allowed from the current status (problem+json)"}
}


@router.get("/v1/incidents", summary="Incidents, newest first")
async def list_incidents(
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    category: str | None = None,
    status: IncidentStatus | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentPage:
    return await service.list_incidents(
        session,
        region=region,
        category=category,
        status=status.value if status else None,
        assignee=assignee,
        limit=limit,
        offset=offset,
    )


@router.get("/v1/incidents/{incident_id}", summary="An incident with posts, explanation, deadlines and history")
async def get_incident(session: SessionDep, request: Request, incident_id: str) -> IncidentRead:
    return await service.incident_detail(session, incident_id=incident_id, settings=request.app.state.settings)


@router.post("/v1/incidents/{incident_id}/actions", responses=CONFLICT, summary="Take an action on an incident")
async def act(session: SessionDep, request: Request, incident_id: str, body: ActionRequest) -> IncidentRead:
    settings = request.app.state.settings
    await service.perform_action(session, incident_id=incident_id, request=body, settings=settings)
    await session.flush()
    return await service.incident_detail(session, incident_id=incident_id, settings=settings)
