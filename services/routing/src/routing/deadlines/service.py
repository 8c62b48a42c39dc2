"""SLA policies and the clocks of an incident, computed in the assignee's working time.

Choosing a policy (`best_policy`) and planning clocks (`plan_clocks`) are pure: the consumer's batch
decides with them in memory. The rest reads and settles the stored clocks of one incident, for the
lifecycle actions and the scanner; new clocks are queued in the transaction's Writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incidents_common.db import writes_of
from incidents_common.events import Urgency
from incidents_common.regions import REGIONS
from incidents_common.towns import town_timezone
from routing.config import Settings
from routing.deadlines.calendar import RoundTheClock, WorkCalendar
from routing.deadlines.models import Clock, Deadline, DeadlineState, SlaPolicy
from routing.deadlines.schemas import DeadlineRead, SlaPolicyCreate, SlaPolicyUpdate
from routing.directory.models import Official
from routing.errors import UnknownPolicy
from routing.wording import category_name, quoted, urgency_name

# The final clock an interim answer starts runs under its policy, named so (incidents.corrections reads it).
INTERIM_SUFFIX = ", после промежуточного ответа"

# -- policies --------------------------------------------------------------------------------


async def list_policies(
    session: AsyncSession, *, region: str | None = None, regions: frozenset[str] | None = None
) -> list[SlaPolicy]:
    """With `regions` (a user's): the policies of those regions and the global ones that apply to them."""
    if region and regions is not None and region not in regions:
        return []
    query = select(SlaPolicy).order_by(col(SlaPolicy.id))
    if region:
        query = query.where((SlaPolicy.region_code == region) | (SlaPolicy.region_code == None))  # noqa: E711
    if regions is not None:
        query = query.where(col(SlaPolicy.region_code).in_(sorted(regions)) | (SlaPolicy.region_code == None))  # noqa: E711
    return list((await session.exec(query)).all())


async def get_policy(session: AsyncSession, *, policy_id: int, regions: frozenset[str] | None = None) -> SlaPolicy:
    """By id, then by region: another region's policy is unknown (a global one is visible to all)."""
    policy = await session.get(SlaPolicy, policy_id)
    if policy is None or (regions is not None and policy.region_code is not None and policy.region_code not in regions):
        raise UnknownPolicy(f"no SLA policy {policy_id}")
    return policy


async def create_policy(session: AsyncSession, *, data: SlaPolicyCreate) -> SlaPolicy:
    policy = SlaPolicy(**data.model_dump(mode="json"))
    session.add(policy)
    await session.flush()
    return policy


async def update_policy(session: AsyncSession, *, policy_id: int, data: SlaPolicyUpdate) -> SlaPolicy:
    policy = await get_policy(session, policy_id=policy_id)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(policy, key, value)
    session.add(policy)
    await session.flush()
    return policy


async def delete_policy(session: AsyncSession, *, policy_id: int) -> None:
    await get_policy(session, policy_id=policy_id)
    await session.exec(delete(SlaPolicy).where(col(SlaPolicy.id) == policy_id))


@dataclass(frozen=True)
class EffectivePolicy:
    first_reaction_hours: float
    interim_days: float
    final_days: float
    name: str


async def load_policies(session: AsyncSession) -> list[SlaPolicy]:
    return list((await session.exec(select(SlaPolicy).order_by(col(SlaPolicy.id)))).all())


async def resolve_policy(
    session: AsyncSession, *, region_code: str, category: str, urgency: str, settings: Settings
) -> EffectivePolicy:
    """The policy that applies now (loads the policies; a batch loads them once and calls best_policy)."""
    return best_policy(
        await load_policies(session), region_code=region_code, category=category, urgency=urgency, settings=settings
    )


def best_policy(
    policies: Sequence[SlaPolicy], *, region_code: str, category: str, urgency: str, settings: Settings
) -> EffectivePolicy:
    """The most specific matching policy: region outweighs category outweighs urgency; ties: the oldest."""
    best: tuple[int, int, SlaPolicy] | None = None
    for policy in policies:
        if policy.region_code not in (None, region_code):
            continue
        if policy.category not in (None, category) or policy.urgency not in (None, urgency):
            continue
        weight = 4 * (policy.region_code is not None) + 2 * (policy.category is not None) + (policy.urgency is not None)
        key = (weight, -(policy.id or 0), policy)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return EffectivePolicy(
            settings.sla_first_reaction_hours,
            settings.sla_interim_days,
            settings.sla_final_days,
            "политика по умолчанию (настройки сервиса)",
        )
    policy = best[2]
    keys = [
        text
        for text, value in (
            (f"регион {policy.region_code}", policy.region_code),
            (f"категория {quoted(category_name(policy.category))}", policy.category),
            (f"срочность {quoted(urgency_name(policy.urgency))}", policy.urgency),
        )
        if value
    ]
    return EffectivePolicy(
        policy.first_reaction_hours,
        policy.interim_days,
        policy.final_days,
        f"Политика SLA {policy.id} ({', '.join(keys) or 'для всех инцидентов'})",
    )


# -- clocks ----------------------------------------------------------------------------------


class ClockedIncident(Protocol):
    """What the clocks read and write of an incident: the ORM row or the consumer's in-memory record."""

    id: str
    region_code: str
    city: str | None
    category: str
    urgency: str
    escalation_level: int
    first_response_due: datetime | None
    final_due: datetime | None
    sla_policy: str | None


def incident_timezone(region_code: str, city: str | None = None) -> str:
    """The zone an incident's clocks run in: its town's (incidents_common.towns) when the towns table
    knows the town in that region — Среднеколымск keeps UTC+11 in Якутия, whose capital has UTC+9 —
    else the region's."""
    return town_timezone(region_code, city) or REGIONS[region_code].timezone


def runs_round_the_clock(urgency: str | None, settings: Settings) -> bool:
    return urgency == Urgency.critical.value and settings.critical_round_the_clock


def zone_calendar(zone: str, settings: Settings, *, urgency: str | None = None) -> WorkCalendar:
    """09-18 on working days in `zone`, or round the clock for a critical incident."""
    if runs_round_the_clock(urgency, settings):
        return RoundTheClock(zone)
    return WorkCalendar(zone, extra_working_days=settings.extra_working_days)


def calendar_for(
    official: Official | None,
    region_code: str,
    settings: Settings,
    *,
    city: str | None = None,
    urgency: str | None = None,
) -> WorkCalendar:
    """The assignee's working hours and zone; the federal queue and unknowns use 09-18. The zone is the
    official's own when set, else the incident's town's (see incident_timezone), else the region's.
    A critical incident's clocks run round the clock (`critical_round_the_clock`)."""
    if official is None:
        zone = incident_timezone(region_code, city)
    elif official.timezone:
        zone = official.timezone
    elif official.region_code == region_code:
        zone = incident_timezone(region_code, city)
    else:
        zone = REGIONS[official.region_code].timezone  # an official of another region works in theirs
    if official is None or runs_round_the_clock(urgency, settings):
        return zone_calendar(zone, settings, urgency=urgency)
    return WorkCalendar(
        zone,
        work_start=official.work_start,
        work_end=official.work_end,
        work_days=official.work_days,
        extra_working_days=settings.extra_working_days,
    )


@dataclass(slots=True)
class NewClock:
    """A clock about to be stored, written with its like in one executemany before the commit
    (an ORM object per clock cost more than the insert itself in a 200-message batch)."""

    incident_id: str
    clock: Clock
    level: int
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    working_seconds: float
    timezone: str
    policy: str
    state: DeadlineState = DeadlineState.pending

    def row(self) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "incident_id": self.incident_id,
            "clock": self.clock,
            "state": self.state,
            "level": self.level,
            "started_at": self.started_at,
            "warn_at": self.warn_at,
            "due_at": self.due_at,
            "working_seconds": self.working_seconds,
            "timezone": self.timezone,
            "policy": self.policy[:300],
            "warned_at": None,
            "closed_at": None,
        }


def new_deadline(
    *,
    incident: ClockedIncident,
    clock: Clock,
    calendar: WorkCalendar,
    seconds: float,
    now: datetime,
    policy: str,
    settings: Settings,
) -> NewClock:
    return NewClock(
        incident_id=incident.id,
        clock=clock,
        level=incident.escalation_level,
        started_at=now,
        warn_at=calendar.add(now, seconds * settings.warning_share),
        due_at=calendar.add(now, seconds),
        working_seconds=seconds,
        timezone=calendar.timezone,
        policy=policy,
    )


def plan_clocks(
    incident: ClockedIncident,
    *,
    policy: EffectivePolicy,
    calendar: WorkCalendar,
    now: datetime,
    settings: Settings,
    clocks: tuple[Clock, ...] = (Clock.first_reaction, Clock.final),
) -> list[NewClock]:
    """Fresh clocks for an incident (assigned or reopened): the policy's budgets on the assignee's calendar."""
    planned: list[NewClock] = []
    for clock in clocks:
        seconds = (
            policy.first_reaction_hours * 3600
            if clock == Clock.first_reaction
            else policy.final_days * calendar.day_seconds
        )
        planned.append(
            new_deadline(
                incident=incident,
                clock=clock,
                calendar=calendar,
                seconds=seconds,
                now=now,
                policy=policy.name,
                settings=settings,
            )
        )
    return planned


def sync_due(incident: ClockedIncident, deadlines: Sequence[Deadline | NewClock]) -> None:
    """Denormalise the running clocks' due times onto the incident (the snapshot carries them)."""
    incident.first_response_due = next(
        (d.due_at for d in deadlines if d.clock == Clock.first_reaction and d.state == DeadlineState.pending), None
    )
    incident.final_due = next(
        (d.due_at for d in deadlines if d.clock == Clock.final and d.state == DeadlineState.pending), None
    )
    # The policy of the clock that runs longest (an interim answer's final clock has its own); once
    # the clocks stop, the incident keeps the one they ran under.
    running = [d for d in deadlines if d.state == DeadlineState.pending]
    if running:
        incident.sla_policy = max(running, key=lambda d: d.clock == Clock.final).policy or incident.sla_policy


def close(deadlines: list[Deadline], clocks: tuple[Clock, ...], state: DeadlineState, now: datetime) -> None:
    for deadline in deadlines:
        if deadline.clock in clocks and deadline.state == DeadlineState.pending:
            deadline.state = state
            deadline.closed_at = now


# -- stored clocks of one incident (lifecycle actions, scanner) --------------------------------


def add_clocks(session: AsyncSession, clocks: Sequence[NewClock]) -> None:
    """Queue new clocks in the transaction's Writes (one executemany with the others at flush)."""
    if clocks:
        writes_of(session).insert(Deadline, [c.row() for c in clocks])


async def pending_deadlines(session: AsyncSession, incident_id: str, *, lock: bool = False) -> list[Deadline]:
    await writes_of(session).flush()  # the clocks this transaction queued
    query = select(Deadline).where(Deadline.incident_id == incident_id, Deadline.state == DeadlineState.pending)
    if lock and session.bind is not None and session.bind.dialect.name != "sqlite":
        query = query.with_for_update()
    return list((await session.exec(query.order_by(col(Deadline.started_at), col(Deadline.clock)))).all())


async def start_clocks(
    session: AsyncSession,
    *,
    incident: ClockedIncident,
    official: Official | None,
    now: datetime,
    settings: Settings,
) -> list[NewClock]:
    policy = await resolve_policy(
        session,
        region_code=incident.region_code,
        category=incident.category,
        urgency=incident.urgency,
        settings=settings,
    )
    planned = plan_clocks(
        incident,
        policy=policy,
        calendar=calendar_for(official, incident.region_code, settings, city=incident.city, urgency=incident.urgency),
        now=now,
        settings=settings,
    )
    add_clocks(session, planned)
    return planned


async def on_interim_answer(
    session: AsyncSession, *, incident: ClockedIncident, official: Official | None, now: datetime, settings: Settings
) -> list[Deadline | NewClock]:
    """A public reaction that pauses the final clock and starts a new one with the interim budget."""
    running = await pending_deadlines(session, incident.id, lock=True)
    close(running, (Clock.first_reaction,), DeadlineState.met, now)
    close(running, (Clock.final,), DeadlineState.paused, now)
    policy = await resolve_policy(
        session,
        region_code=incident.region_code,
        category=incident.category,
        urgency=incident.urgency,
        settings=settings,
    )
    calendar = calendar_for(official, incident.region_code, settings, city=incident.city, urgency=incident.urgency)
    final = new_deadline(
        incident=incident,
        clock=Clock.final,
        calendar=calendar,
        seconds=policy.interim_days * calendar.day_seconds,
        now=now,
        policy=policy.name + INTERIM_SUFFIX,
        settings=settings,
    )
    add_clocks(session, [final])
    return [*(d for d in running if d.state == DeadlineState.pending), final]


async def settle(
    session: AsyncSession, *, incident: ClockedIncident, clocks: tuple[Clock, ...], state: DeadlineState, now: datetime
) -> list[Deadline]:
    """Close the named running clocks; returns the ones still running."""
    running = await pending_deadlines(session, incident.id, lock=True)
    close(running, clocks, state, now)
    return [d for d in running if d.state == DeadlineState.pending]


async def restart_clocks(
    session: AsyncSession,
    *,
    incident: ClockedIncident,
    official: Official | None,
    now: datetime,
    settings: Settings,
) -> None:
    """New first-reaction and final clocks for a reopened incident: the running ones are cancelled,
    the new due times copied onto the incident."""
    clocks = (Clock.first_reaction, Clock.final)
    await settle(session, incident=incident, clocks=clocks, state=DeadlineState.cancelled, now=now)
    sync_due(incident, await start_clocks(session, incident=incident, official=official, now=now, settings=settings))


async def incident_deadlines(session: AsyncSession, incident_id: str) -> list[DeadlineRead]:
    rows = await session.exec(
        select(Deadline)
        .where(Deadline.incident_id == incident_id)
        .order_by(col(Deadline.started_at), col(Deadline.clock))
    )
    return [
        DeadlineRead(**d.model_dump(exclude={"working_seconds"}), working_hours=round(d.working_seconds / 3600, 2))
        for d in rows.all()
    ]
