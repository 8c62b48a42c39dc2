"""Surge alerts of the caller's regions (issue 15): routing raises them when complaints of one category
flare up in a town; the gateway keeps them (consumers.apply_alert_events) and serves them here, newest
first. The SSE stream and webhooks deliver the same alerts live as `alert.surge`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from sqlalchemy import and_, false, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.auth import Principal
from api_gateway.deps import PrincipalDep
from api_gateway.models import SurgeAlertRecord
from api_gateway.router import AUTH_RESPONSES, CategoryQ, RegionQ
from api_gateway.schemas import AlertPage, AlertRead
from incidents_common.app import SessionDep
from incidents_common.problems import InvalidInput, NotFound

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


# ---------------------------------------------------------------------------------------------
# Queries (every one filtered by the caller's regions, in SQL)
# ---------------------------------------------------------------------------------------------


def _encode_cursor(raised_at: datetime, alert_id: str) -> str:
    raw = orjson.dumps([raised_at.astimezone(UTC).isoformat(), alert_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raised_at, alert_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(raised_at)
    except Exception as exc:  # noqa: BLE001 - any malformed cursor is the same client error
        raise InvalidInput("malformed cursor") from exc
    if not isinstance(alert_id, str):
        raise InvalidInput("malformed cursor")
    return _aware(moment), alert_id


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _read(row: SurgeAlertRecord) -> AlertRead:
    return AlertRead.model_validate(
        {**row.model_dump(), "incident_ids": row.incident_ids or [], "post_ids": row.post_ids or []}
    )


async def list_alerts(
    session: AsyncSession,
    *,
    principal: Principal,
    regions: list[str] | None,
    categories: list[str] | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> AlertPage:
    """One page of the alerts the caller may see, newest first (raised_at, then alert_id, descending)."""
    query = select(SurgeAlertRecord)
    visible = principal.visible(regions)
    if visible is not None:
        query = query.where(col(SurgeAlertRecord.region_code).in_(visible) if visible else false())
    if categories:
        query = query.where(col(SurgeAlertRecord.category).in_(categories))
    if since is not None:
        query = query.where(col(SurgeAlertRecord.raised_at) >= _aware(since))
    raised_at, alert_id = col(SurgeAlertRecord.raised_at), col(SurgeAlertRecord.alert_id)
    if cursor:
        last_raised, last_id = _decode_cursor(cursor)
        query = query.where(
            raised_at <= last_raised, or_(raised_at < last_raised, and_(raised_at == last_raised, alert_id < last_id))
        )
    rows = list((await session.exec(query.order_by(raised_at.desc(), alert_id.desc()).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].raised_at, rows[-1].alert_id)
    return AlertPage(items=[_read(row) for row in rows], next_cursor=next_cursor, limit=limit)


async def get_alert(session: AsyncSession, *, principal: Principal, alert_id: str) -> AlertRead:
    """The alert, or 404 — the same 404 whether it does not exist or belongs to another region."""
    row = await session.get(SurgeAlertRecord, alert_id)
    if row is None or not principal.can_see(row.region_code):
        raise NotFound(f"no alert {alert_id}")
    return _read(row)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------

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
    return await list_alerts(
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
    return await get_alert(session, principal=principal, alert_id=alert_id)
