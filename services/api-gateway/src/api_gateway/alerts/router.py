"""Surge alerts of the caller's regions (issue 15): routing raises them when complaints of one category
flare up in a town; the gateway keeps them (alerts.consumers.apply_alert_events) and serves them here, newest
first. The SSE stream and webhooks deliver the same alerts live as `alert.surge`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api_gateway.alerts import service
from api_gateway.alerts.schemas import AlertPage, AlertRead
from api_gateway.auth.deps import AUTH_RESPONSES, PrincipalDep
from api_gateway.incidents.params import CategoryQ, RegionQ
from incidents_common.app import SessionDep

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such alert in your regions"}}


@router.get(
    "",
    response_model=AlertPage,
    summary="Surge alerts of your regions, newest first",
    description=(
        "An alert says that complaints of one category flared up in one town (or in a region, for complaints "
        "that named no town): the last window's count against the place's baseline, the statistic that "
        "decided, and one sentence that explains it. Live: the SSE stream and webhooks, event type `alert.surge`."
    ),
    responses=AUTH_RESPONSES,
)
async def alerts(
    session: SessionDep,
    principal: PrincipalDep,
    region: RegionQ = None,
    category: CategoryQ = None,
    since: Annotated[datetime | None, Query(description="Raised at or after (ISO 8601)")] = None,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AlertPage:
    return await service.list_alerts(
        session, principal=principal, regions=region, categories=category, since=since, cursor=cursor, limit=limit
    )


@router.get(
    "/{alert_id}",
    response_model=AlertRead,
    summary="One surge alert",
    responses={**AUTH_RESPONSES, **NOT_FOUND},
)
async def alert(
    session: SessionDep, principal: PrincipalDep, alert_id: Annotated[str, Path(max_length=64)]
) -> AlertRead:
    return await service.get_alert(session, principal=principal, alert_id=alert_id)
