"""The audit log's checks and daily roots, over the database (the hashing itself: incidents.chain).

`seal_days` runs with the deadline scan: once a UTC day is over (and an hour more, so that a batch
stamped just before midnight has committed), each region's entries of that day are summed into a
root, stored in routing_audit_roots and published as AuditRootPublished (the event id is fixed per
region and day, so two replicas sealing at once publish it once). `check_incident` and
`check_roots` recompute and compare; the API (GET /v1/incidents/{id}/audit, GET /v1/audit/roots) and
`python -m routing audit verify` use them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import utcnow, writes_of
from incidents_common.events import AuditRootPublished, new_event
from routing.config import SOURCE
from routing.incidents.chain import ChainCheck, daily_root, verify
from routing.incidents.models import AuditRoot, Incident, IncidentHistory
from routing.tables import table_of

SEAL_AFTER = timedelta(hours=1)  # after the day's end: a batch stamped before midnight has committed
SEAL_LOOKBACK_DAYS = 7  # days a scan looks back for an unsealed day (a service that was down)

HISTORY = table_of(IncidentHistory)
INCIDENTS = table_of(Incident)
ROOTS = table_of(AuditRoot)


async def check_incident(session: AsyncSession, incident_id: str) -> ChainCheck | None:
    """The verdict on one incident's chain; None when there is no such incident."""
    connection = await session.connection()
    head = (await connection.execute(select(INCIDENTS.c.chain_head).where(INCIDENTS.c.id == incident_id))).first()
    if head is None:
        return None
    rows = (await connection.execute(select(HISTORY).where(HISTORY.c.incident_id == incident_id))).mappings().all()
    return verify(incident_id, rows, head[0])


async def day_hashes(session: AsyncSession, day: date, regions: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Region → the hashes of its entries recorded on `day` (UTC), in order (time, incident, seq)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    query = (
        select(INCIDENTS.c.region_code, HISTORY.c.hash)
        .join(INCIDENTS, INCIDENTS.c.id == HISTORY.c.incident_id)
        .where(HISTORY.c.at >= start, HISTORY.c.at < start + timedelta(days=1))
        .order_by(HISTORY.c.at, HISTORY.c.incident_id, HISTORY.c.seq)
    )
    if regions is not None:
        query = query.where(INCIDENTS.c.region_code.in_(list(regions)))
    hashes: dict[str, list[str]] = defaultdict(list)
    for region_code, value in await (await session.connection()).execute(query):
        hashes[region_code].append(value or "")
    return dict(hashes)


def last_sealable_day(now: datetime) -> date:
    return (now - SEAL_AFTER).date() - timedelta(days=1)


async def seal_days(
    session: AsyncSession, *, now: datetime | None = None, after: date | None = None
) -> list[AuditRootPublished]:
    """Store and publish the roots of the days that are over and not sealed yet (only days later than
    `after`: the scanner remembers what it sealed). Call in a transaction."""
    now = now or utcnow()
    last_day = last_sealable_day(now)
    first_day = last_day - timedelta(days=SEAL_LOOKBACK_DAYS - 1)
    if after is not None:
        first_day = max(first_day, after + timedelta(days=1))
    if first_day > last_day:
        return []
    sealed = {
        (region_code, _as_date(day))
        for region_code, day in await (await session.connection()).execute(
            select(ROOTS.c.region_code, ROOTS.c.day).where(ROOTS.c.day >= first_day)
        )
    }
    writes = writes_of(session)
    published: list[AuditRootPublished] = []
    day = first_day
    while day <= last_day:
        for region_code, hashes in sorted((await day_hashes(session, day)).items()):
            if (region_code, day) in sealed:
                continue
            root = AuditRootPublished(
                region_code=region_code, day=day, root=daily_root(hashes), entries=len(hashes), computed_at=now
            )
            row = root.model_dump(include={"region_code", "day", "root", "entries", "computed_at"})
            writes.insert(AuditRoot, [row], ignore_conflicts=True)  # a replica that sealed it first keeps its row
            writes.enqueue(new_event(root, source=SOURCE, event_id=f"audit-root-{region_code}-{day.isoformat()}"))
            published.append(root)
        day += timedelta(days=1)
    return published


@dataclass(frozen=True, slots=True)
class RootCheck:
    region_code: str
    day: date
    stored: str
    recomputed: str
    entries: int

    @property
    def ok(self) -> bool:
        return self.stored == self.recomputed


async def check_roots(
    session: AsyncSession, *, region: str | None = None, day: date | None = None, regions: Sequence[str] | None = None
) -> list[RootCheck]:
    """Every stored root (of `region`, of `day`, within `regions`) against the entries as they are now."""
    query = select(ROOTS).order_by(ROOTS.c.day, ROOTS.c.region_code)
    if region is not None:
        query = query.where(ROOTS.c.region_code == region)
    if day is not None:
        query = query.where(ROOTS.c.day == day)
    if regions is not None:
        query = query.where(ROOTS.c.region_code.in_(list(regions)))
    stored = (await (await session.connection()).execute(query)).mappings().all()
    checks: list[RootCheck] = []
    recomputed: dict[date, dict[str, list[str]]] = {}
    for row in stored:
        row_day = _as_date(row["day"])
        if row_day not in recomputed:
            recomputed[row_day] = await day_hashes(session, row_day)
        hashes = recomputed[row_day].get(row["region_code"], [])
        checks.append(RootCheck(row["region_code"], row_day, row["root"], daily_root(hashes), len(hashes)))
    return checks


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
