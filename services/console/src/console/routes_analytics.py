"""Analytics: per region and per department — incidents, share answered on time, median first response,
the weekly trend, the federal rating with its formula — as charts, tables and CSV."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from console.deps import GatewayDep, UserDep, page
from console.gateway import GatewayError

router = APIRouter(include_in_schema=False)

PERIODS = {"4": "4 недели", "12": "12 недель", "26": "полгода", "52": "год"}


def weekly(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The gateway's daily trend summed into ISO weeks (Monday first), oldest first."""
    weeks: OrderedDict[date, dict[str, Any]] = OrderedDict()
    for point in sorted(points, key=lambda p: p["day"]):
        day = date.fromisoformat(str(point["day"])[:10])
        monday = day - timedelta(days=day.weekday())
        week = weeks.setdefault(monday, {"week": monday.isoformat(), "created": 0, "answered": 0, "on_time": 0})
        week["created"] += int(point.get("created") or 0)
        week["answered"] += int(point.get("answered") or 0)
        week["on_time"] += int(point.get("answered_on_time") or 0)
    for week in weeks.values():
        week["share_on_time"] = round(week["on_time"] / week["created"], 4) if week["created"] else None
    return list(weeks.values())


def _params(region: list[str] | None, weeks: str) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(weeks=int(weeks))
    return {"region": [r for r in region or [] if r], "from": since.isoformat()}


@router.get("/analytics")
async def analytics_page(
    request: Request,
    user: UserDep,
    gateway: GatewayDep,
    region: Annotated[list[str] | None, Query()] = None,
    weeks: str = "12",
) -> Response:
    weeks = weeks if weeks in PERIODS else "12"
    params = _params(region, weeks)
    try:
        by_region = await gateway.get("/v1/analytics/summary", user.credentials, {**params, "by": "region"})
        by_department = await gateway.get("/v1/analytics/summary", user.credentials, {**params, "by": "department"})
        trend = await gateway.get("/v1/analytics/trend", user.credentials, params)
        rating = await gateway.get("/v1/analytics/rating", user.credentials, {**params, "level": "region"})
        department_rating = await gateway.get(
            "/v1/analytics/rating", user.credentials, {**params, "level": "department"}
        )
    except GatewayError as exc:
        if exc.status == 401:
            raise
        return page(request, "error.html", user, status_code=exc.status if exc.status < 500 else 502, error=exc)
    week_rows = weekly(trend if isinstance(trend, list) else trend.get("points", []))
    charts = {
        "regions": {
            "labels": [g["name"] for g in by_region["groups"]],
            "on_time": [g.get("share_answered_on_time") for g in by_region["groups"]],
            "incidents": [g["incidents"] for g in by_region["groups"]],
        },
        "weeks": {
            "labels": [w["week"] for w in week_rows],
            "created": [w["created"] for w in week_rows],
            "answered": [w["answered"] for w in week_rows],
            "on_time": [w["on_time"] for w in week_rows],
        },
    }
    return page(
        request,
        "analytics.html",
        user,
        filters={"region": params["region"], "weeks": weeks},
        periods=PERIODS,
        by_region=by_region,
        by_department=by_department,
        weeks_rows=week_rows,
        rating=rating,
        department_rating=department_rating,
        charts=charts,
        query=request.url.query,
    )


@router.get("/export/analytics.csv")
async def export_analytics(
    user: UserDep,
    gateway: GatewayDep,
    region: Annotated[list[str] | None, Query()] = None,
    weeks: str = "12",
    by: str = "region",
) -> Response:
    group = by if by in ("region", "department") else "region"
    params = {**_params(region, weeks if weeks in PERIODS else "12"), "by": group}
    upstream = await gateway.download("/v1/analytics/export.csv", user.credentials, params)
    return Response(
        upstream.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="analytics-by-{params["by"]}.csv"'},
    )
