"""Surge alerts of the caller's regions, newest first: every query filtered by the caller's regions, in SQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
from sqlalchemy import and_, false, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.alerts.models import SurgeAlertRecord
from api_gateway.alerts.schemas import AlertPage, AlertRead
from api_gateway.auth.principal import Principal
from incidents_common.problems import InvalidInput, NotFound


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
