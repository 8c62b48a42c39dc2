"""Analytics endpoints: summary by region/category/department, daily trend, rating, CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api_gateway.analytics import service
from api_gateway.analytics.schemas import GroupBy, RatingLevel, RatingRead, SummaryRead, TrendPointRead
from api_gateway.auth.deps import PrincipalDep
from api_gateway.deps import SettingsDep
from api_gateway.incidents.params import aware, check_period
from api_gateway.incidents.queries import IncidentFilter
from incidents_common.app import SessionDep
from incidents_common.categories import CategoryName

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


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


RegionQ = Annotated[list[str] | None, Query(examples=[["64"]], description="Region codes; default all of yours")]
CategoryQ = Annotated[list[CategoryName] | None, Query(examples=[["roads"]])]
FromQ = Annotated[datetime | None, Query(alias="from", description="Incidents created at or after")]
ToQ = Annotated[datetime | None, Query(alias="to", description="Incidents created before")]


async def analytics_filter(
    region: RegionQ = None, category: CategoryQ = None, date_from: FromQ = None, date_to: ToQ = None
) -> IncidentFilter:
    created_from, created_to = aware(date_from), aware(date_to)
    check_period(created_from, created_to, names=("from", "to"))
    return IncidentFilter(regions=region, categories=category, created_from=created_from, created_to=created_to)


FilterDep = Annotated[IncidentFilter, Depends(analytics_filter)]


@router.get(
    "/summary",
    response_model=SummaryRead,
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
    session: SessionDep, principal: PrincipalDep, flt: FilterDep, by: GroupBy = GroupBy.region
) -> SummaryRead:
    return await service.summary_of(session, principal=principal, flt=flt, by=by.value)


@router.get(
    "/trend",
    response_model=list[TrendPointRead],
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
async def trend(session: SessionDep, principal: PrincipalDep, flt: FilterDep) -> list[TrendPointRead]:
    return await service.trend_of(session, principal=principal, flt=flt)


@router.get(
    "/rating",
    response_model=RatingRead,
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
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    flt: FilterDep,
    level: RatingLevel = RatingLevel.region,
) -> RatingRead:
    return await service.rating_of(
        session, principal=principal, flt=flt, level=level.value, prior_weight=settings.rating_prior_weight
    )


@router.get(
    "/export.csv",
    summary="The summary (grouped by region, category or department) as CSV",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(_STATS) + "\r\n" + ",".join(map(str, _STATS.values()))}}}
    },
)
async def export_csv(
    session: SessionDep, principal: PrincipalDep, flt: FilterDep, by: GroupBy = GroupBy.region
) -> Response:
    result = await service.summary_of(session, principal=principal, flt=flt, by=by.value)
    return Response(
        service.summary_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="analytics-{by.value}.csv"'},
    )
