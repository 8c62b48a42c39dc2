"""Analytics endpoints: summary by region/category/department, daily trend, rating, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api_gateway import analytics
from api_gateway.deps import PrincipalDep
from api_gateway.service import IncidentFilter
from incidents_common.app import SessionDep

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


class GroupBy(StrEnum):
    region = "region"
    category = "category"
    department = "department"


class RatingLevel(StrEnum):
    region = "region"
    department = "department"


_STATS = {
    "key": "64",
    "name": "Саратовская область",
    "incidents": 120,
    "answered": 111,
    "share_answered": 0.925,
    "answered_on_time": 98,
    "share_answered_on_time": 0.8167,
    "median_first_response_minutes": 74.5,
    "p90_first_response_minutes": 410.0,
    "overdue_now": 3,
    "escalations": 5,
}


def _flt(
    region: list[str] | None, category: list[str] | None, date_from: datetime | None, date_to: datetime | None
) -> IncidentFilter:
    def aware(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    return IncidentFilter(regions=region, categories=category, created_from=aware(date_from), created_to=aware(date_to))


RegionQ = Annotated[list[str] | None, Query(examples=[["64"]], description="Region codes; default all of yours")]
CategoryQ = Annotated[list[str] | None, Query(examples=[["roads"]])]
FromQ = Annotated[datetime | None, Query(alias="from", description="Incidents created at or after")]
ToQ = Annotated[datetime | None, Query(alias="to", description="Incidents created before")]


@router.get(
    "/summary",
    response_model=analytics.Summary,
    summary="Counts, shares answered (within deadline), median/p90 time to first response, overdue now",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "period_from": "2026-11-01T00:00:00Z",
                        "period_to": None,
                        "total": _STATS,
                        "groups": [_STATS],
                    }
                }
            }
        }
    },
)
async def summary(
    session: SessionDep,
    principal: PrincipalDep,
    by: GroupBy = GroupBy.region,
    region: RegionQ = None,
    category: CategoryQ = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
) -> analytics.Summary:
    flt = _flt(region, category, date_from, date_to)
    facts = await analytics.load_facts(session, principal=principal, flt=flt)
    return analytics.summary(facts, by.value, flt)


@router.get(
    "/trend",
    response_model=list[analytics.TrendPoint],
    summary="Daily trend: incidents created, answered, answered within deadline (UTC days)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [{"day": "2026-11-25", "created": 14, "answered": 12, "answered_on_time": 11}]
                }
            }
        }
    },
)
async def trend(
    session: SessionDep,
    principal: PrincipalDep,
    region: RegionQ = None,
    category: CategoryQ = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
) -> list[analytics.TrendPoint]:
    facts = await analytics.load_facts(session, principal=principal, flt=_flt(region, category, date_from, date_to))
    return analytics.trend(facts)


@router.get(
    "/rating",
    response_model=analytics.Rating,
    summary="Rating of regions or of bodies inside regions, fair to small numbers (Bayesian shrinkage)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "level": "region",
                        "prior_weight": 10,
                        "prior_mean": 0.71,
                        "entries": [{**_STATS, "rank": 1, "score": 0.8091, "provisional": False}],
                    }
                }
            }
        }
    },
)
async def rating(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    level: RatingLevel = RatingLevel.region,
    region: RegionQ = None,
    category: CategoryQ = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
) -> analytics.Rating:
    facts = await analytics.load_facts(session, principal=principal, flt=_flt(region, category, date_from, date_to))
    return analytics.rating(facts, level.value, request.app.state.settings.rating_prior_weight)


@router.get(
    "/export.csv",
    summary="The summary (grouped by region, category or department) as CSV",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(_STATS) + "\r\n" + ",".join(map(str, _STATS.values()))}}}
    },
)
async def export_csv(
    session: SessionDep,
    principal: PrincipalDep,
    by: GroupBy = GroupBy.region,
    region: RegionQ = None,
    category: CategoryQ = None,
    date_from: FromQ = None,
    date_to: ToQ = None,
) -> Response:
    flt = _flt(region, category, date_from, date_to)
    facts = await analytics.load_facts(session, principal=principal, flt=flt)
    result = analytics.summary(facts, by.value, flt)
    buffer = io.StringIO()
    columns = list(analytics.GroupStats.model_fields)
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for group in result.groups:
        row: dict[str, Any] = group.model_dump()
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return Response(
        buffer.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="analytics-{by.value}.csv"'},
    )
