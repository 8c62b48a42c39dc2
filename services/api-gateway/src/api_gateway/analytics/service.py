"""How regions and bodies react: counts, shares, response-time percentiles, daily trend, a fair rating.

Definitions (the README publishes them):
- answered: the incident got a first response (routing's `first_response_at`, or it reached
  answered/resolved/closed); time to first response = answered_at − created_at;
- answered within deadline: answered and answered_at ≤ first_response_due (no deadline counts as on time);
- overdue now: open and past its first-response deadline without a response, or past its final deadline;
- rating: Bayesian shrinkage of the on-time share towards the mean of everything in view,
  score = (n·p + m·p₀) / (n + m), with m = GATEWAY_RATING_PRIOR_WEIGHT (10 by default);
- satisfaction (beside the rating's speed): of the incidents whose reply was published, the share
  whose complainant thanked (satisfied), said it was not fixed (not satisfied) or did not react; the
  satisfaction score shrinks the satisfied share the same way as the on-time share.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api_gateway.analytics.schemas import GroupStatsRead, RatingEntryRead, RatingRead, SummaryRead, TrendPointRead
from api_gateway.auth.principal import Principal
from api_gateway.columns import table_of
from api_gateway.incidents.models import Incident
from api_gateway.incidents.queries import IncidentFilter, apply_filter, overdue
from api_gateway.open311.mapping import SERVICE_NAMES


@dataclass(frozen=True)
class Fact:
    region_code: str
    region_name: str
    category: str
    department: str
    department_name: str
    created_at: datetime
    answered_at: datetime | None
    first_response_due: datetime | None
    escalations: int
    overdue: bool
    satisfaction: str | None = None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def on_time(self) -> bool:
        if self.answered_at is None:
            return False
        return self.first_response_due is None or self.answered_at <= self.first_response_due

    @property
    def response_minutes(self) -> float | None:
        if self.answered_at is None:
            return None
        return max(0.0, (self.answered_at - self.created_at).total_seconds() / 60.0)


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (the same as numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return round(ordered[low], 2)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 2)


def stats(key: str, name: str, facts: list[Fact]) -> GroupStatsRead:
    n = len(facts)
    answered = sum(f.answered for f in facts)
    on_time = sum(f.on_time for f in facts)
    minutes = [m for f in facts if (m := f.response_minutes) is not None]
    satisfied = sum(f.satisfaction == "satisfied" for f in facts)
    not_satisfied = sum(f.satisfaction == "not_satisfied" for f in facts)
    no_reaction = sum(f.satisfaction == "no_reaction" for f in facts)
    reacted = satisfied + not_satisfied + no_reaction
    return GroupStatsRead(
        key=key,
        name=name,
        incidents=n,
        answered=answered,
        share_answered=round(answered / n, 4) if n else None,
        answered_on_time=on_time,
        share_answered_on_time=round(on_time / n, 4) if n else None,
        median_first_response_minutes=percentile(minutes, 0.5),
        p90_first_response_minutes=percentile(minutes, 0.9),
        overdue_now=sum(f.overdue for f in facts),
        escalations=sum(f.escalations for f in facts),
        satisfied=satisfied,
        not_satisfied=not_satisfied,
        no_reaction=no_reaction,
        share_satisfied=round(satisfied / reacted, 4) if reacted else None,
    )


FACT_COLUMNS = [
    table_of(Incident).c[name]
    for name in (
        "region_code",
        "region_name",
        "category",
        "department_id",
        "department_name",
        "status",
        "created_at",
        "answered_at",
        "first_response_at",
        "first_response_due",
        "final_due",
        "escalations",
        "satisfaction",
    )
]


async def load_facts(session: AsyncSession, *, principal: Principal, flt: IncidentFilter) -> list[Fact]:
    """One row per incident in view, only the columns analytics needs (no texts, no JSON)."""
    dialect = session.get_bind().dialect.name
    query = apply_filter(select(*FACT_COLUMNS), principal, flt, dialect=dialect)
    rows = (await session.exec(query.order_by(col(Incident.created_at)))).all()
    now = datetime.now(UTC)
    facts = []
    for row in rows:
        facts.append(
            Fact(
                region_code=row.region_code,
                region_name=row.region_name,
                category=row.category,
                department=row.department_id or "unassigned",
                department_name=row.department_name or "Не назначено",
                created_at=row.created_at,
                answered_at=row.answered_at,
                first_response_due=row.first_response_due,
                escalations=row.escalations,
                overdue=overdue(row.status, row.first_response_at, row.first_response_due, row.final_due, now),
                satisfaction=row.satisfaction,
            )
        )
    return facts


GROUPINGS: dict[str, tuple[Callable[[Fact], str], Callable[[Fact], str]]] = {
    "region": (lambda f: f.region_code, lambda f: f.region_name),
    # A category's Russian name (the taxonomy's label); an operator's own category shows its code.
    "category": (lambda f: f.category, lambda f: SERVICE_NAMES.get(f.category, (f.category, ""))[0]),
    "department": (lambda f: f.department, lambda f: f.department_name),
}


def grouped(facts: Iterable[Fact], by: str) -> list[GroupStatsRead]:
    key_of, name_of = GROUPINGS[by]
    buckets: dict[str, list[Fact]] = defaultdict(list)
    names: dict[str, str] = {}
    for fact in facts:
        buckets[key_of(fact)].append(fact)
        names[key_of(fact)] = name_of(fact)
    return [stats(key, names[key], buckets[key]) for key in sorted(buckets)]


def summary(facts: list[Fact], by: str, flt: IncidentFilter) -> SummaryRead:
    return SummaryRead(
        period_from=flt.created_from,
        period_to=flt.created_to,
        total=stats("all", "Все", facts),
        groups=grouped(facts, by),
    )


def rating(facts: list[Fact], by: str, prior_weight: float) -> RatingRead:
    groups = grouped(facts, by)
    total = len(facts)
    prior = sum(f.on_time for f in facts) / total if total else None
    reacted_total = sum(f.satisfaction is not None for f in facts)
    satisfied_prior = sum(f.satisfaction == "satisfied" for f in facts) / reacted_total if reacted_total else None
    entries: list[dict[str, Any]] = []
    for group in groups:
        p = group.answered_on_time / group.incidents
        p0 = prior if prior is not None else 0.0
        score = (group.incidents * p + prior_weight * p0) / (group.incidents + prior_weight)
        reacted = group.satisfied + group.not_satisfied + group.no_reaction
        satisfaction_score = None
        if satisfied_prior is not None:
            shrunk = (group.satisfied + prior_weight * satisfied_prior) / (reacted + prior_weight)
            satisfaction_score = round(shrunk, 4)
        entries.append(
            {
                **group.model_dump(),
                "score": round(score, 4),
                "satisfaction_score": satisfaction_score,
                "provisional": group.incidents < prior_weight,
            }
        )
    # Ties: the faster median first response ranks higher; unanswered groups last.
    entries.sort(key=lambda e: (-e["score"], e["median_first_response_minutes"] or math.inf, e["key"]))
    return RatingRead(
        level=by,
        prior_weight=prior_weight,
        prior_mean=round(prior, 4) if prior is not None else None,
        entries=[RatingEntryRead(**e, rank=i + 1) for i, e in enumerate(entries)],
    )


def trend(facts: list[Fact]) -> list[TrendPointRead]:
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for fact in facts:
        bucket = days[fact.created_at.astimezone(UTC).date()]
        bucket[0] += 1
        bucket[1] += fact.answered
        bucket[2] += fact.on_time
    return [TrendPointRead(day=d, created=c, answered=a, answered_on_time=o) for d, (c, a, o) in sorted(days.items())]


async def summary_of(session: AsyncSession, *, principal: Principal, flt: IncidentFilter, by: str) -> SummaryRead:
    return summary(await load_facts(session, principal=principal, flt=flt), by, flt)


async def trend_of(session: AsyncSession, *, principal: Principal, flt: IncidentFilter) -> list[TrendPointRead]:
    return trend(await load_facts(session, principal=principal, flt=flt))


async def rating_of(
    session: AsyncSession, *, principal: Principal, flt: IncidentFilter, level: str, prior_weight: float
) -> RatingRead:
    return rating(await load_facts(session, principal=principal, flt=flt), level, prior_weight)


def summary_csv(result: SummaryRead) -> bytes:
    """The summary's groups as CSV in UTF-8 with a BOM (Excel then reads Cyrillic correctly)."""
    buffer = io.StringIO()
    columns = list(GroupStatsRead.model_fields)
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for group in result.groups:
        row: dict[str, Any] = group.model_dump()
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buffer.getvalue().encode("utf-8-sig")
