"""The query parameters of the incident list and its export (one definition, so they cannot drift
apart), and the region and category parameters other routers share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query

from api_gateway.incidents.queries import IncidentFilter
from incidents_common.categories import CategoryName
from incidents_common.events import IncidentStatus, Urgency
from incidents_common.problems import InvalidInput

RegionQ = Annotated[list[str] | None, Query(description="Region codes (ФИАС/ГАР), e.g. 64", examples=[["64"]])]
CityQ = Annotated[
    list[str] | None,
    Query(
        alias="municipality", description="Municipality / city name (case and ё-insensitive)", examples=[["Саратов"]]
    ),
]
# A taxonomy key: an unknown one is a 422 naming the known ones, not an empty list that looks like an answer.
CategoryQ = Annotated[list[CategoryName] | None, Query(alias="category", examples=[["roads"]])]
StatusQ = Annotated[list[IncidentStatus] | None, Query(alias="status", examples=[["assigned", "in_progress"]])]
UrgencyQ = Annotated[list[Urgency] | None, Query(alias="urgency", examples=[["critical"]])]


async def incident_filter(
    region: RegionQ = None,
    municipality: CityQ = None,
    category: CategoryQ = None,
    status: StatusQ = None,
    urgency: UrgencyQ = None,
    assignee: Annotated[
        str | None, Query(description="official_id of the assignee; `me` for the calling official", max_length=64)
    ] = None,
    overdue: Annotated[bool | None, Query(description="Only (true) or no (false) overdue incidents")] = None,
    needs_review: Annotated[
        bool | None,
        Query(description="Only (true) or no (false) incidents awaiting an operator's review (the review queue)"),
    ] = None,
    created_from: Annotated[datetime | None, Query(description="Created at or after (ISO 8601)")] = None,
    created_to: Annotated[datetime | None, Query(description="Created before (ISO 8601)")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=200,
            description="Full-text search in Russian (word forms and ё/е match)",
            examples=["яма дорога"],
        ),
    ] = None,
) -> IncidentFilter:
    """The list's and the export's filters: one definition, so they cannot drift apart."""
    check_period(aware(created_from), aware(created_to), names=("created_from", "created_to"))
    return IncidentFilter(
        regions=region,
        cities=municipality,
        categories=category,
        statuses=[s.value for s in status] if status else None,
        urgencies=[u.value for u in urgency] if urgency else None,
        assignee=assignee,
        overdue=overdue,
        needs_review=needs_review,
        created_from=aware(created_from),
        created_to=aware(created_to),
        q=q,
    )


class EmptyPeriod(InvalidInput):
    status, slug, title = 422, "empty-period", "Empty period"


def check_period(start: datetime | None, end: datetime | None, *, names: tuple[str, str]) -> None:
    """A period that ends before it starts is a mistake to say, not an empty answer."""
    if start is not None and end is not None and start > end:
        raise EmptyPeriod(f"`{names[0]}` ({start.isoformat()}) is after `{names[1]}` ({end.isoformat()})")


def aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


FilterDep = Annotated[IncidentFilter, Depends(incident_filter)]
