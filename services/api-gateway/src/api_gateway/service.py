"""Incident queries over the read model. Every query is filtered by the caller's regions here, in SQL."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, false, not_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from api_gateway.auth import Principal
from api_gateway.consumers import CLOSED_STATUSES
from api_gateway.models import Incident, IncidentEventLog, IncidentPost, Post
from api_gateway.schemas import Deadlines, HistoryEntry, IncidentDetail, IncidentRead, PostRead
from api_gateway.search import normalize, query_terms
from incidents_common.problems import InvalidInput, NotFound


@dataclass
class IncidentFilter:
    regions: list[str] | None = None
    cities: list[str] | None = None
    categories: list[str] | None = None
    statuses: list[str] | None = None
    urgencies: list[str] | None = None
    assignee: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    ids: list[str] | None = field(default=None)


def scoped(query: SelectOfScalar[Any], principal: Principal, requested: list[str] | None) -> SelectOfScalar[Any]:
    """Restrict a query on Incident to the regions the caller may see (and asked for)."""
    regions = principal.visible(requested)
    if regions is None:
        return query
    if not regions:
        return query.where(false())
    return query.where(col(Incident.region_code).in_(regions))


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    # Explicit IS NOT NULL tests keep the clause two-valued, so NOT(overdue) keeps rows without deadlines.
    return and_(
        col(Incident.status).not_in(CLOSED_STATUSES),
        or_(
            and_(
                col(Incident.first_response_at).is_(None),
                col(Incident.first_response_due).is_not(None),
                col(Incident.first_response_due) < now,
            ),
            and_(col(Incident.final_due).is_not(None), col(Incident.final_due) < now),
        ),
    )


def overdue(
    status: str,
    first_response_at: datetime | None,
    first_response_due: datetime | None,
    final_due: datetime | None,
    now: datetime,
) -> bool:
    """The Python twin of overdue_clause."""
    if status in CLOSED_STATUSES:
        return False
    if first_response_at is None and first_response_due is not None and first_response_due < now:
        return True
    return final_due is not None and final_due < now


def is_overdue(incident: Incident, now: datetime) -> bool:
    return overdue(incident.status, incident.first_response_at, incident.first_response_due, incident.final_due, now)


def apply_filter(query: SelectOfScalar[Any], principal: Principal, flt: IncidentFilter) -> SelectOfScalar[Any]:
    query = scoped(query, principal, flt.regions)
    if flt.cities:
        query = query.where(col(Incident.city_norm).in_([normalize(c) for c in flt.cities]))
    if flt.categories:
        query = query.where(col(Incident.category).in_(flt.categories))
    if flt.statuses:
        query = query.where(col(Incident.status).in_(flt.statuses))
    if flt.urgencies:
        query = query.where(col(Incident.urgency).in_(flt.urgencies))
    if flt.assignee:
        query = query.where(Incident.assignee_id == flt.assignee)
    if flt.ids:
        query = query.where(col(Incident.incident_id).in_(flt.ids))
    now = datetime.now(UTC)
    if flt.overdue is True:
        query = query.where(overdue_clause(now))
    elif flt.overdue is False:
        query = query.where(not_(overdue_clause(now)))
    if flt.created_from:
        query = query.where(Incident.created_at >= flt.created_from)
    if flt.created_to:
        query = query.where(Incident.created_at < flt.created_to)
    if flt.q:
        terms = query_terms(flt.q)
        if not terms:
            raise InvalidInput("the search query has no words")
        for forms in terms:
            # A word matches at a word start: search_text is " w1 w2 … " (see search.py), in the
            # incident's own text or in any of its posts.
            in_posts = (
                select(IncidentPost.post_id)
                .join(Post, col(Post.post_id) == col(IncidentPost.post_id))
                .where(
                    col(IncidentPost.incident_id) == col(Incident.incident_id),
                    or_(*(col(Post.search_text).contains(f" {form}") for form in forms)),
                )
            )
            query = query.where(
                or_(*(col(Incident.search_text).contains(f" {form}") for form in forms), in_posts.exists())
            )
    return query


# ---------------------------------------------------------------------------------------------
# Cursor pagination
# ---------------------------------------------------------------------------------------------


def _encode_cursor(sort: str, value: Any, incident_id: str) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    return base64.urlsafe_b64encode(orjson.dumps([sort, value, incident_id])).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, incident_id = orjson.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any malformed cursor is the same client error
        raise InvalidInput("malformed cursor") from exc
    if cursor_sort != sort or not isinstance(incident_id, str):
        raise InvalidInput("the cursor belongs to another sort order")
    if sort.lstrip("-") in ("created_at", "updated_at"):
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("malformed cursor") from exc
    elif not isinstance(value, int):
        raise InvalidInput("malformed cursor")
    return value, incident_id


def to_read(incident: Incident, now: datetime | None = None) -> IncidentRead:
    now = now or datetime.now(UTC)
    return IncidentRead(
        incident_id=incident.incident_id,
        region_code=incident.region_code,
        region_name=incident.region_name,
        city=incident.city,
        category=incident.category,
        urgency=incident.urgency,
        status=incident.status,
        severity=incident.severity,
        title=incident.title,
        summary=incident.summary,
        assignee=incident.assignee,
        complainants=incident.complainants,
        total_reach=incident.total_reach,
        escalation_level=incident.escalation_level,
        post_ids=list(incident.post_ids or []),
        deadlines=_deadlines(incident, now),
        created_at=incident.created_at,
        updated_at=incident.updated_at,
    )


def _deadlines(incident: Incident, now: datetime) -> Deadlines:
    return Deadlines(
        first_response_due=incident.first_response_due,
        final_due=incident.final_due,
        first_response_at=incident.first_response_at,
        answered_at=incident.answered_at,
        closed_at=incident.closed_at,
        overdue=is_overdue(incident, now),
    )


async def list_incidents(
    session: AsyncSession,
    *,
    principal: Principal,
    flt: IncidentFilter,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Incident], str | None]:
    descending = sort.startswith("-")
    column = getattr(Incident, sort.lstrip("-"))
    id_column = col(Incident.incident_id)
    query = apply_filter(select(Incident), principal, flt)
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        if descending:
            query = query.where(or_(column < value, and_(column == value, id_column < last_id)))
        else:
            query = query.where(or_(column > value, and_(column == value, id_column > last_id)))
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    rows = list((await session.exec(query.order_by(*order).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, sort.lstrip("-")), last.incident_id)
    return rows, next_cursor


async def get_visible(session: AsyncSession, *, principal: Principal, incident_id: str) -> Incident:
    """The incident, or 404 — the same 404 whether it does not exist or belongs to another region."""
    incident = await session.get(Incident, incident_id)
    if incident is None or not principal.can_see(incident.region_code):
        raise NotFound(f"no incident {incident_id}")
    return incident


async def incident_detail(session: AsyncSession, *, principal: Principal, incident_id: str) -> IncidentDetail:
    incident = await get_visible(session, principal=principal, incident_id=incident_id)
    post_ids = list(incident.post_ids or [])
    posts: list[Post] = []
    if post_ids:
        posts = list((await session.exec(select(Post).where(col(Post.post_id).in_(post_ids)))).all())
        order = {pid: i for i, pid in enumerate(post_ids)}
        posts.sort(key=lambda p: order.get(p.post_id, 0))
    history = (
        await session.exec(
            select(IncidentEventLog)
            .where(IncidentEventLog.incident_id == incident_id)
            .order_by(col(IncidentEventLog.occurred_at), col(IncidentEventLog.seq))
        )
    ).all()
    base = to_read(incident).model_dump()
    return IncidentDetail(
        **base,
        assignment_explanation=incident.assignment_explanation,
        posts=[PostRead.model_validate(p, from_attributes=True) for p in posts],
        history=[
            HistoryEntry(
                seq=h.seq or 0,
                event_id=h.event_id,
                type=h.type,
                occurred_at=h.occurred_at,
                actor=h.actor,
                from_status=h.from_status,
                to_status=h.to_status,
                detail=h.detail,
            )
            for h in history
        ],
    )
