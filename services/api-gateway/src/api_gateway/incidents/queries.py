"""Which incidents a caller may see and asked for, as SQL: the filter of the list, the export and
analytics, the overdue rule (with its Python twin), and the word search. Every query is filtered by
the caller's regions here, in SQL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, false, func, literal_column, not_, or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api_gateway.auth.principal import Principal
from api_gateway.columns import table_of
from api_gateway.incidents.models import Incident, IncidentPost, Post
from api_gateway.incidents.search import normalize, query_terms
from api_gateway.incidents.statuses import CLOSED_STATUSES
from incidents_common.problems import InvalidInput

# The text search configuration as a constant, as in columns.SEARCH_VECTOR: a bound parameter would
# not match the index expression.
SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")

# What the list and the export read: every column but the search text (the longest; only the filter
# reads it) and the priority's parts (the detail shows them), as plain rows, read by attribute like
# Incident objects but cheaper to load.
LIST_COLUMNS = [column for column in table_of(Incident).columns if column.name not in ("search_text", "priority_parts")]
IncidentRow = Incident | Row[Any]


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
    needs_review: bool | None = None


def resolve_me(flt: IncidentFilter, principal: Principal) -> IncidentFilter:
    """`assignee=me` means the calling official (a caller who is no official matches nothing)."""
    if flt.assignee != "me":
        return flt
    return dataclasses.replace(flt, assignee=principal.official_id or f"{principal.subject} (no official)")


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


def is_overdue(incident: IncidentRow, now: datetime) -> bool:
    return overdue(incident.status, incident.first_response_at, incident.first_response_due, incident.final_due, now)


def apply_filter(
    query: SelectOfScalar[Any], principal: Principal, flt: IncidentFilter, *, dialect: str | None = None
) -> SelectOfScalar[Any]:
    """The filter's conditions, the caller's regions first; `dialect` picks how words are searched."""
    query = scoped(query, principal, flt.regions)
    if flt.cities:
        query = query.where(col(Incident.city_norm).in_([normalize(c) for c in flt.cities]))
    if flt.categories:
        query = query.where(col(Incident.category).in_(flt.categories))
    if flt.statuses:
        status: Any = col(Incident.status)
        if dialect == "sqlite" and len(flt.statuses) > 1:
            # SQLite would read each status's range of ix_gw_incident_region_status_created and sort
            # them all (20-40 ms for a region's open incidents at 100,000); a unary + keeps the term
            # out of its index choice, so it reads the region in order and stops after one page, as
            # PostgreSQL's planner chooses by itself.
            status = literal_column(f"+{Incident.__tablename__}.status")
        query = query.where(status.in_(flt.statuses))
    if flt.urgencies:
        query = query.where(col(Incident.urgency).in_(flt.urgencies))
    if flt.assignee:
        query = query.where(Incident.assignee_id == flt.assignee)
    if flt.needs_review is not None:
        query = query.where(col(Incident.needs_review).is_(flt.needs_review))
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
            query = query.where(word_clause(sorted(forms), dialect))
    return query


def word_clause(forms: list[str], dialect: str | None) -> ColumnElement[bool]:
    """An incident matches a query word when one of its `forms` begins a word of its own search text
    or of one of its posts' (search_text is " w1 w2 … ", see incidents/search.py).

    PostgreSQL: the same prefix match as a text search (`to_tsvector('simple', …) @@ 'form:*'`),
    answered from the GIN indexes of columns.search_index; each side is a sub-select of incident ids,
    so the planner reads the index instead of parsing every row it scans. Elsewhere: LIKE.
    """
    if dialect == "postgresql":
        words = func.to_tsquery(SIMPLE, " | ".join(f"{form}:*" for form in forms))
        own = select(col(Incident.incident_id)).where(
            func.to_tsvector(SIMPLE, col(Incident.search_text)).op("@@")(words)
        )
        in_posts = (
            select(col(IncidentPost.incident_id))
            .join(Post, col(Post.post_id) == col(IncidentPost.post_id))
            .where(func.to_tsvector(SIMPLE, col(Post.search_text)).op("@@")(words))
        )
        # Not correlated: each sub-select is one index lookup for the whole query, not one per row.
        return or_(
            col(Incident.incident_id).in_(own.correlate(None)), col(Incident.incident_id).in_(in_posts.correlate(None))
        )
    in_posts_like = (
        select(IncidentPost.post_id)
        .join(Post, col(Post.post_id) == col(IncidentPost.post_id))
        .where(
            col(IncidentPost.incident_id) == col(Incident.incident_id),
            or_(*(col(Post.search_text).contains(f" {form}") for form in forms)),
        )
    )
    return or_(*(col(Incident.search_text).contains(f" {form}") for form in forms), in_posts_like.exists())
