"""Incidents over the read model: pages of the list (keyset cursors), the detail, the review queue.
Every query is filtered by the caller's regions (incidents.queries)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, Row, and_, case, false, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from api_gateway.auth.principal import Principal
from api_gateway.incidents.models import Incident, IncidentEventLog, Post
from api_gateway.incidents.queries import (
    LIST_COLUMNS,
    IncidentFilter,
    IncidentRow,
    apply_filter,
    overdue,
    resolve_me,
)
from api_gateway.incidents.schemas import (
    DeadlinesRead,
    HistoryEntryRead,
    IncidentDetail,
    IncidentRead,
    PostRead,
    ReviewQueuePage,
    ReviewRegionRead,
)
from api_gateway.incidents.statuses import REVIEWABLE_STATUSES
from incidents_common.problems import InvalidInput, NotFound
from incidents_common.regions import REGIONS

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
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("malformed cursor")
    return value, incident_id


def to_read(incident: IncidentRow, now: datetime | None = None) -> IncidentRead:
    now = now or datetime.now(UTC)
    values = _values(incident)
    return IncidentRead(
        **_fields(values, now),
        priority=priority_score(values["priority"]),
    )


def priority_score(stored: float) -> float | None:
    """The score as the API shows it: none (null) for the column's 0, which no priority has (they start at 2)."""
    return stored or None


class _Values(Protocol):
    def __getitem__(self, name: str, /) -> Any: ...


class _Attributes:
    """An ORM object's attributes read by name, as a Row's mapping reads its columns."""

    __slots__ = ("_target",)

    def __init__(self, target: object) -> None:
        self._target = target

    def __getitem__(self, name: str) -> Any:
        return getattr(self._target, name)


def _values(incident: IncidentRow) -> _Values:
    """An incident's columns by name. A list's rows are read through their mapping: a Row's attribute
    costs about four times as much (a page of 50 rows, some 35 columns each: 0.6 against 0.15 ms)."""
    return incident._mapping if isinstance(incident, Row) else _Attributes(incident)


def _fields(values: _Values, now: datetime) -> dict[str, Any]:
    """What IncidentFields shows of a row."""
    return {
        "incident_id": values["incident_id"],
        "region_code": values["region_code"],
        "region_name": values["region_name"],
        "city": values["city"],
        "category": values["category"],
        "urgency": values["urgency"],
        "status": values["status"],
        "severity": values["severity"],
        "title": values["title"],
        "summary": values["summary"],
        "assignee": values["assignee"],
        "complainants": values["complainants"],
        "total_reach": values["total_reach"],
        "escalation_level": values["escalation_level"],
        "post_ids": list(values["post_ids"] or []),
        "deadlines": _deadlines(values, now),
        "created_at": values["created_at"],
        "updated_at": values["updated_at"],
        "needs_review": values["needs_review"],
        "possibly_critical": values["possibly_critical"],
        "danger": values["danger"],
        "review_reasons": list(values["review_reasons"] or []),
        "reply": values["reply"],
        "satisfaction": values["satisfaction"],
    }


def _deadlines(values: _Values, now: datetime) -> DeadlinesRead:
    first_response_due, final_due = values["first_response_due"], values["final_due"]
    first_response_at = values["first_response_at"]
    return DeadlinesRead(
        first_response_due=first_response_due,
        final_due=final_due,
        first_response_at=first_response_at,
        answered_at=values["answered_at"],
        closed_at=values["closed_at"],
        policy=values["sla_policy"],
        overdue=overdue(values["status"], first_response_at, first_response_due, final_due, now),
    )


def page_query(
    principal: Principal,
    flt: IncidentFilter,
    *,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
    dialect: str | None = None,
) -> SelectOfScalar[Any]:
    """The SELECT of one page (`limit` + 1 rows of LIST_COLUMNS: the extra one tells a next page exists)."""
    descending = sort.startswith("-")
    column = getattr(Incident, sort.lstrip("-"))
    id_column = col(Incident.incident_id)
    query = apply_filter(select(*LIST_COLUMNS), principal, flt, dialect=dialect)
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        # The plain bound (<= / >=) besides the exact keyset condition lets the database start the
        # index range at the cursor instead of filtering its way there from the first page.
        if descending:
            query = query.where(column <= value, or_(column < value, and_(column == value, id_column < last_id)))
        else:
            query = query.where(column >= value, or_(column > value, and_(column == value, id_column > last_id)))
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    return query.order_by(*order).limit(limit + 1)


async def list_incidents(
    session: AsyncSession,
    *,
    principal: Principal,
    flt: IncidentFilter,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Row[Any]], str | None]:
    """One page of incidents (rows of LIST_COLUMNS) and the cursor of the next page; `assignee=me` is the caller."""
    dialect = session.get_bind().dialect.name
    query = page_query(principal, resolve_me(flt, principal), sort=sort, cursor=cursor, limit=limit, dialect=dialect)
    # Plain columns, so the connection runs it as Core: the ORM's execution path cost a page more CPU
    # than reading its rows.
    rows = list((await (await session.connection()).execute(query)).all())
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
    return IncidentDetail(
        **_fields(_Attributes(incident), datetime.now(UTC)),
        priority=incident.priority_parts,
        assignment_explanation=incident.assignment_explanation,
        posts=[PostRead.model_validate(p, from_attributes=True) for p in posts],
        history=[
            HistoryEntryRead(
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


# ---------------------------------------------------------------------------------------------
# The review queue (issue 13)
# ---------------------------------------------------------------------------------------------


def awaiting_review(principal: Principal, regions: list[str] | None) -> list[ColumnElement[bool]]:
    """The conditions of the queue: flagged, still open to a correction, in the caller's regions."""
    visible = principal.visible(regions)
    conditions: list[ColumnElement[bool]] = [
        col(Incident.needs_review).is_(True),
        col(Incident.status).in_(REVIEWABLE_STATUSES),
    ]
    if visible is not None:
        conditions.append(col(Incident.region_code).in_(visible) if visible else false())
    return conditions


async def review_queue(
    session: AsyncSession, *, principal: Principal, regions: list[str] | None, limit: int, offset: int
) -> ReviewQueuePage:
    """The incidents awaiting an operator's decision: possibly critical first (they run on the critical
    clock), then the most dangerous, then the longest waiting; and how many per region."""
    conditions = awaiting_review(principal, regions)
    critical_count = func.sum(case((col(Incident.possibly_critical).is_(True), 1), else_=0))
    counted = await session.exec(
        select(col(Incident.region_code), func.count(), critical_count)
        .where(*conditions)
        .group_by(col(Incident.region_code))
    )
    counts = {region: (int(total), int(critical or 0)) for region, total, critical in counted.all()}
    visible = principal.visible(regions)
    # A caller of named regions sees each of them, at zero too; a caller of every region, those with some.
    shown = sorted(counts) if visible is None else sorted(code for code in set(visible) if code in REGIONS)
    rows = await session.exec(
        select(*LIST_COLUMNS)
        .where(*conditions)
        .order_by(
            col(Incident.possibly_critical).desc(),
            func.coalesce(col(Incident.danger), -1.0).desc(),
            col(Incident.created_at).asc(),
            col(Incident.incident_id).asc(),
        )
        .limit(limit)
        .offset(offset)
    )
    now = datetime.now(UTC)
    return ReviewQueuePage(
        regions=[
            ReviewRegionRead(
                region_code=code,
                region_name=REGIONS[code].name if code in REGIONS else code,
                awaiting_review=counts.get(code, (0, 0))[0],
                possibly_critical=counts.get(code, (0, 0))[1],
            )
            for code in shown
        ],
        items=[to_read(row, now) for row in rows.all()],
        total=sum(total for total, _ in counts.values()),
        limit=limit,
        offset=offset,
    )
