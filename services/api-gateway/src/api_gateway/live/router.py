"""Live updates: a Server-Sent Events stream of incident events and surge alerts (`alert.surge`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from api_gateway.auth.deps import StreamPrincipalDep
from api_gateway.deps import DatabaseDep, SettingsDep
from api_gateway.live import service
from api_gateway.schemas import EventTypeName
from incidents_common.problems import NotFound

router = APIRouter(prefix="/v1", tags=["live"])

SSE_EXAMPLE = (
    "id: 42\nevent: incident.status_changed\n"
    'data: {"specversion":"1.0","id":"e-42","type":"ru.incidents.incident.status_changed","data":{"incident":{…}}}\n\n'
)


@router.get(
    "/events/stream",
    summary="Server-Sent Events: incident events and surge alerts of your regions; resume with Last-Event-ID",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": (
                'text/event-stream. The stream ends with `event: stream.closed` and `data: {"reason": …}` '
                "(token_expired, token_revoked, credential_revoked, credential_changed) when what opened it ends"
            ),
            "content": {"text/event-stream": {"example": SSE_EXAMPLE}},
        },
        404: {"description": "None of the requested regions is yours"},
    },
)
async def stream_events(
    db: DatabaseDep,
    settings: SettingsDep,
    principal: StreamPrincipalDep,
    region: Annotated[list[str] | None, Query(examples=[["64"]])] = None,
    type: Annotated[
        list[EventTypeName] | None, Query(examples=[["incident.created"]], description="Event types")
    ] = None,  # noqa: A002
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    from_start: Annotated[bool, Query(description="Without Last-Event-ID: replay the stored history first")] = False,
) -> EventSourceResponse:
    regions = principal.visible(region)
    if regions is not None and not regions:
        raise NotFound("none of the requested regions is yours")
    after = await service.start_after(db, last_event_id, from_start)
    events = service.stream(db, settings, principal, after=after, regions=regions, types=type)
    return EventSourceResponse(events, ping=settings.sse_ping_seconds, headers={"Cache-Control": "no-store"})
